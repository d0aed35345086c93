"""Changes to an agent's own profile."""

from __future__ import annotations

from typing import Any

from kefu.core.errors import ActionError
from kefu.core.events import AgentAvailabilityChanged, emit
from kefu.staff.models import AgentProfile

EDITABLE = ("display_name", "language", "timezone", "signature", "presence", "capacity")
MAX_CAPACITY = 20


def update_profile(profile: AgentProfile, **changes: Any) -> AgentProfile:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ActionError(f"cannot change {', '.join(sorted(unknown))}")
    if "presence" in changes and changes["presence"] not in AgentProfile.Presence.values:
        raise ActionError(f"unknown presence {changes['presence']!r}")
    if "capacity" in changes:
        capacity = changes["capacity"]
        if not isinstance(capacity, int) or isinstance(capacity, bool):
            raise ActionError("capacity is a whole number")
        if not 0 <= capacity <= MAX_CAPACITY:
            raise ActionError(f"capacity is between 0 and {MAX_CAPACITY} chats")
    before = (profile.presence, profile.capacity)
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.save(update_fields=list(changes))
    if (profile.presence, profile.capacity) != before:
        emit(
            AgentAvailabilityChanged(
                actor_id=profile.user_id,
                agent_id=profile.user_id,
                presence=profile.presence,
                capacity=profile.capacity,
            )
        )
    return profile
