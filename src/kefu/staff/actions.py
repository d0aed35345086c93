"""Changes to an agent's own profile."""

from __future__ import annotations

from typing import Any

from kefu.core.errors import ActionError
from kefu.staff.models import AgentProfile

EDITABLE = ("display_name", "language", "timezone", "signature", "presence")


def update_profile(profile: AgentProfile, **changes: Any) -> AgentProfile:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ActionError(f"cannot change {', '.join(sorted(unknown))}")
    if "presence" in changes and changes["presence"] not in AgentProfile.Presence.values:
        raise ActionError(f"unknown presence {changes['presence']!r}")
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.save(update_fields=list(changes))
    return profile
