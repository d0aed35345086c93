"""Which agent of a team gets a conversation: the team's strategy (manual, round robin, least
loaded, skills), among its online agents below their capacity.

An agent's load is the number of open conversations assigned to them (new, open, on hold;
pending ones wait on the customer). Their capacity is the team's limit, or their own (the
profile's). The choice and the assignment happen in one transaction holding row locks, taken
in a fixed order (the conversation, the team's policy, the candidate agents by id), so two
conversations arriving at once can neither push an agent over capacity nor be assigned twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Status
from kefu.service.models import AssignmentPolicy, Strategy
from kefu.service.rules import fold, split_list
from kefu.staff.models import AgentProfile, Team

LOAD_STATUSES = (Status.NEW, Status.OPEN, Status.ON_HOLD)

# What a conversation's language code is called in agents' skills.
LANGUAGE_SKILLS = {
    "en": {"en", "english", "英文", "英语"},
    "zh-hans": {"zh-hans", "普通话", "简体中文", "中文", "mandarin"},
    "zh-hant": {"zh-hant", "繁体中文", "粤语", "cantonese", "traditional chinese"},
}


@dataclass(frozen=True)
class Candidate:
    profile: AgentProfile
    load: int
    capacity: int


def loads(user_ids: Iterable[int]) -> dict[int, int]:
    """Open conversations assigned to each of these agents (one grouped query)."""
    rows = (
        Conversation.objects.filter(assignee_id__in=list(user_ids), status__in=LOAD_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    return dict(rows)


def candidates(team: Team, policy: AssignmentPolicy | None, *, lock: bool) -> list[Candidate]:
    """The team's online, active agents with room for one more, by id."""
    agents = AgentProfile.objects.filter(
        teams=team, presence=AgentProfile.Presence.ONLINE, user__is_active=True
    ).order_by("pk")
    if lock:
        agents = agents.select_for_update(of=("self",))
    profiles = list(agents.select_related("user"))
    counted = loads(p.user_id for p in profiles)
    found = []
    for profile in profiles:
        capacity = policy.max_open if policy and policy.max_open else profile.capacity
        load = counted.get(profile.user_id, 0)
        if load < capacity:
            found.append(Candidate(profile, load, capacity))
    return found


def skills_wanted(conversation: Conversation) -> set[str]:
    wanted = {fold(t) for t in conversation.tags.values_list("name", flat=True)}
    if conversation.language:
        wanted |= {fold(s) for s in LANGUAGE_SKILLS.get(conversation.language, set())}
        wanted.add(fold(conversation.language))
    return wanted


def choose(
    strategy: str,
    found: list[Candidate],
    *,
    conversation: Conversation,
    last_assigned_id: int | None = None,
) -> Candidate | None:
    """The candidate a strategy picks (None for manual, or when nobody has room)."""
    if not found or strategy == Strategy.MANUAL:
        return None
    if strategy == Strategy.ROUND_ROBIN:
        after = [
            c
            for c in found
            if last_assigned_id is not None and c.profile.user_id > last_assigned_id
        ]
        return after[0] if after else found[0]
    if strategy == Strategy.SKILLS:
        wanted = skills_wanted(conversation)
        scored = [(len(wanted & {fold(s) for s in split_list(c.profile.skills)}), c) for c in found]
        best = max(score for score, _c in scored)
        if best > 0:
            found = [c for score, c in scored if score == best]
    return min(found, key=lambda c: (c.load, c.profile.user_id))


def assign_by_strategy(conversation: Conversation, team: Team, *, actor: Any = None) -> Any:
    """Give ``conversation`` to ``team`` and the agent its strategy picks (nobody when the
    strategy is manual or no one has room); the agent, or None. A conversation that already
    has an agent of this team keeps them."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.assignee_id is not None and locked.team_id == team.pk:
            return locked.assignee
        policy = AssignmentPolicy.objects.select_for_update().filter(team=team).first()
        strategy = policy.strategy if policy is not None else Strategy.MANUAL
        found = candidates(team, policy, lock=True) if strategy != Strategy.MANUAL else []
        chosen = choose(
            strategy,
            found,
            conversation=locked,
            last_assigned_id=policy.last_assigned_id if policy is not None else None,
        )
        user = chosen.profile.user if chosen is not None else None
        actions.assign(locked, actor=actor, assignee=user, team=team)
        if user is not None and policy is not None and strategy == Strategy.ROUND_ROBIN:
            policy.last_assigned = user
            policy.save(update_fields=["last_assigned"])
    return user
