"""Which SLA policy and which escalation rules apply: read once a minute per process, matched
in memory (no query per conversation or per event)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save

from kefu.service.models import EscalationRule, SlaPolicy, split_codes

_TTL = 60.0


@dataclass(frozen=True)
class _Conditions:
    policy: SlaPolicy
    tiers: frozenset[str]
    priorities: frozenset[str]
    kinds: frozenset[str]
    channels: frozenset[str]
    team_ids: frozenset[int]

    def matches(self, conversation: Any) -> bool:
        return (
            (not self.tiers or conversation.customer.tier in self.tiers)
            and (not self.priorities or conversation.priority in self.priorities)
            and (not self.kinds or conversation.kind in self.kinds)
            and (not self.channels or conversation.channel in self.channels)
            and (not self.team_ids or conversation.team_id in self.team_ids)
        )


_lock = threading.Lock()
_cache: dict[str, tuple[float, Any]] = {}


def _cached(key: str, load: Any) -> Any:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < _TTL:
        return hit[1]
    value = load()
    with _lock:
        _cache[key] = (now, value)
    return value


def clear(*args: object, **kwargs: object) -> None:
    with _lock:
        _cache.clear()


def _load_policies() -> list[_Conditions]:
    return [
        _Conditions(
            policy=policy,
            tiers=frozenset(split_codes(policy.tiers)),
            priorities=frozenset(split_codes(policy.priorities)),
            kinds=frozenset(split_codes(policy.kinds)),
            channels=frozenset(split_codes(policy.channels)),
            team_ids=frozenset(team.pk for team in policy.teams.all()),
        )
        for policy in SlaPolicy.objects.filter(active=True)
        .select_related("calendar")
        .prefetch_related("teams", "calendar__hours", "calendar__days")
    ]


def select_policy(conversation: Any) -> SlaPolicy | None:
    """The first active policy (by position) whose conditions the conversation meets."""
    for conditions in _cached("policies", _load_policies):
        if conditions.matches(conversation):
            policy: SlaPolicy = conditions.policy
            return policy
    return None


def any_policies() -> bool:
    return bool(_cached("policies", _load_policies))


def policy_by_id(policy_id: int | None) -> SlaPolicy | None:
    """An active policy from the cache (with its calendar loaded), or None."""
    for conditions in _cached("policies", _load_policies):
        if conditions.policy.pk == policy_id:
            policy: SlaPolicy = conditions.policy
            return policy
    return None


def escalation_rules() -> list[EscalationRule]:
    rules: list[EscalationRule] = _cached(
        "rules",
        lambda: list(
            EscalationRule.objects.filter(active=True).select_related(
                "notify_user", "reassign_team", "reassign_agent"
            )
        ),
    )
    return rules


for _model in (SlaPolicy, EscalationRule):
    post_save.connect(clear, sender=_model, dispatch_uid=f"sla-policies-{_model.__name__}")
    post_delete.connect(clear, sender=_model, dispatch_uid=f"sla-policies-del-{_model.__name__}")
m2m_changed.connect(clear, sender=SlaPolicy.teams.through, dispatch_uid="sla-policies-teams")
