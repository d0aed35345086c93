"""The SLA countdown beside a conversation (inbox row, conversation page), rendered from the
stored due times; ``app.js`` ticks it down between refreshes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from kefu.conversations.models import Status
from kefu.service.policies import policy_by_id
from kefu.service.sla import due_of, warn_of

register = template.Library()

PAUSED = (Status.PENDING, Status.SOLVED)


def remaining(seconds: float) -> str:
    """``H:MM`` (hours may exceed 24), ``−`` when overdue: the same text app.js writes."""
    minutes = int(abs(seconds) // 60)
    text = f"{minutes // 60}:{minutes % 60:02d}"
    return f"−{text}" if seconds < 0 else text


def countdown(conversation: Any, now: datetime | None = None) -> dict[str, Any] | None:
    """The target that runs out first: its due time, state (ok, near, breached, paused) and
    the time left. None when no SLA clock runs."""
    if conversation.status == Status.CLOSED:
        return None
    try:
        clock = conversation.sla_clock
    except ObjectDoesNotExist:
        return None
    if clock is None:
        return None
    targets = ["resolution"]
    if conversation.first_responded_at is None:
        targets.append("first_response")
    if clock.next_started_at is not None:
        targets.append("next_response")
    dues = [(due, t) for t in targets if (due := due_of(conversation, t)) is not None]
    if not dues:
        return None
    due, target = min(dues)
    shown = {"target": target, "due": due, "dues": [(t, d) for d, t in sorted(dues)]}
    if conversation.status in PAUSED or clock.paused_at is not None:
        return {**shown, "state": "paused", "warn": None, "text": ""}
    now = now or timezone.now()
    warn = warn_of(clock, target)
    left = (due - now).total_seconds()
    state = "breached" if left <= 0 else "near" if warn is not None and now >= warn else "ok"
    return {**shown, "state": state, "warn": warn, "text": remaining(left)}


@register.inclusion_tag("service/_countdown.html")
def sla_countdown(conversation: Any, wide: bool = False) -> dict[str, Any]:
    sla = countdown(conversation)
    if sla is not None and wide:
        policy = policy_by_id(conversation.sla_clock.policy_id)
        sla["policy"] = policy.name if policy else ""
    return {"sla": sla, "wide": wide}


@register.filter
def sla_time(value: Any) -> datetime | None:
    """An instant stored as ISO text in a timeline entry, as a datetime (shown in the viewer's
    time zone by ``|date``)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
