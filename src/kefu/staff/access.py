"""Who is an agent, and which teams they see."""

from __future__ import annotations

from typing import Any

from kefu.staff.models import AgentProfile


def agent_profile(user: Any) -> AgentProfile | None:
    """The active agent behind ``user``, or None for anonymous users and customers."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    profile: AgentProfile | None = getattr(user, "agent_profile", None)
    if profile is None and user.is_superuser:
        profile, _ = AgentProfile.objects.get_or_create(
            user=user, defaults={"role": AgentProfile.Role.ADMIN}
        )
    return profile


def is_agent(user: Any) -> bool:
    return agent_profile(user) is not None


def sees_all_teams(user: Any) -> bool:
    profile = agent_profile(user)
    return profile is not None and profile.sees_all_teams


def team_ids(user: Any) -> set[int]:
    profile = agent_profile(user)
    if profile is None:
        return set()
    cached: set[int] | None = getattr(profile, "_team_ids", None)
    if cached is None:
        cached = set(profile.teams.values_list("id", flat=True))
        profile._team_ids = cached  # type: ignore[attr-defined]
    return cached
