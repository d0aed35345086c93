"""SLA clocks: conversation events → the policy, the due times and the near-breach instants.

A due time is ``started + target + paused`` in business minutes of the policy's calendar
(``paused``: business time the conversation spent waiting on the customer, or solved). The
first-response and resolution clocks start when the conversation opens; the next-response clock
starts when the customer writes after the first answer and stops at the agent's reply.
Pending and solved pause every clock; the customer's reply (or a reopening) resumes them, and
the due times move back by the business time spent paused.

Everything is recomputed from the clock's anchors (:func:`plan`), so a change of policy after a
change of priority, kind or team gives the same answer as if it had applied from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from kefu.conversations.actions import set_due_times
from kefu.conversations.models import Conversation, Status
from kefu.core.events import (
    ConversationAssigned,
    ConversationEvent,
    ConversationOpened,
    KindChanged,
    MessageAdded,
    PriorityChanged,
    StatusChanged,
    listen,
)
from kefu.customers.timeline import record
from kefu.service.calendars import add_business_minutes, business_minutes_between, schedule_for
from kefu.service.models import TARGET_BIT, SlaClock, SlaPolicy, Target
from kefu.service.policies import any_policies, policy_by_id, select_policy

PAUSED_STATUSES = (Status.PENDING, Status.SOLVED)
TARGETS = (Target.FIRST_RESPONSE, Target.NEXT_RESPONSE, Target.RESOLUTION)


@dataclass(frozen=True)
class Plan:
    due: dict[str, datetime | None]
    warn: dict[str, datetime | None]


def plan(clock: SlaClock, policy: SlaPolicy | None) -> Plan:
    """Due and near-breach instants of every target of ``policy`` for this clock."""
    due: dict[str, datetime | None] = dict.fromkeys(TARGETS)
    warn: dict[str, datetime | None] = dict.fromkeys(TARGETS)
    if policy is None:
        return Plan(due, warn)
    schedule = schedule_for(policy.calendar)
    anchors = {
        Target.FIRST_RESPONSE: (clock.started_at, clock.paused_minutes),
        Target.RESOLUTION: (clock.started_at, clock.paused_minutes),
        Target.NEXT_RESPONSE: (clock.next_started_at, clock.next_paused_minutes),
    }
    for target, (anchor, paused) in anchors.items():
        minutes = policy.target_minutes(target)
        if minutes is None or anchor is None:
            continue
        due[target] = add_business_minutes(schedule, anchor, minutes + paused)
        warn[target] = add_business_minutes(
            schedule, anchor, minutes * policy.warn_percent / 100 + paused
        )
    return Plan(due, warn)


def active_targets(clock: SlaClock, conversation: Conversation) -> list[str]:
    """The targets whose clocks are running now."""
    if clock.paused_at is not None or conversation.status in (*PAUSED_STATUSES, Status.CLOSED):
        return []
    targets: list[str] = [Target.RESOLUTION]
    if conversation.first_responded_at is None:
        targets.append(Target.FIRST_RESPONSE)
    if clock.next_started_at is not None:
        targets.append(Target.NEXT_RESPONSE)
    return targets


def due_of(conversation: Conversation, target: str) -> datetime | None:
    value: datetime | None = getattr(conversation, f"{target}_due")
    return value


def warn_of(clock: SlaClock, target: str) -> datetime | None:
    value: datetime | None = getattr(clock, f"{target}_warn_at")
    return value


def next_check(clock: SlaClock, conversation: Conversation) -> datetime | None:
    """The earliest warning or breach of a running target that has not fired yet."""
    moments = []
    for target in active_targets(clock, conversation):
        bit = TARGET_BIT[target]
        warn, due = warn_of(clock, target), due_of(conversation, target)
        if not clock.warned & bit and warn is not None:
            moments.append(warn)
        elif not clock.breached & bit and due is not None:
            moments.append(due)
    return min(moments, default=None)


def _store(clock: SlaClock, conversation: Conversation, policy: SlaPolicy | None) -> None:
    """Recompute from the anchors and write the clock and (if changed) the due times."""
    result = plan(clock, policy)
    for target in TARGETS:
        setattr(clock, f"{target}_warn_at", result.warn[target])
    if any(due_of(conversation, t) != result.due[t] for t in TARGETS):
        set_due_times(
            conversation,
            first_response_due=result.due[Target.FIRST_RESPONSE],
            next_response_due=result.due[Target.NEXT_RESPONSE],
            resolution_due=result.due[Target.RESOLUTION],
        )
    clock.next_check_at = next_check(clock, conversation)
    clock.save()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dues(conversation: Conversation) -> dict[str, str | None]:
    return {f"{t}_due": _iso(due_of(conversation, t)) for t in TARGETS}


def _handle(event: ConversationEvent) -> None:
    now = timezone.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_related("customer").filter(pk=event.conversation_id).first()
        )
        if conversation is None:
            return
        clock = SlaClock.objects.select_for_update().filter(pk=conversation.pk).first()
        policy = policy_by_id(clock.policy_id) if clock is not None else None
        if clock is None or isinstance(
            event, ConversationOpened | PriorityChanged | KindChanged | ConversationAssigned
        ):
            chosen = select_policy(conversation)
            if clock is None:
                if chosen is None or conversation.status == Status.CLOSED:
                    return
                clock = SlaClock(conversation=conversation, started_at=conversation.created_at)
                if conversation.status in PAUSED_STATUSES:
                    clock.paused_at = now
            if chosen != policy:
                clock.policy, policy = chosen, chosen
                _store(clock, conversation, policy)
                record(
                    conversation.customer,
                    "sla_applied",
                    conversation=conversation,
                    policy=policy.name if policy else "",
                    calendar=policy.calendar.name if policy and policy.calendar else "",
                    **_dues(conversation),
                )
                return
        if isinstance(event, MessageAdded):
            if event.direction == "in" and conversation.first_responded_at is not None:
                if clock.next_started_at is None:
                    clock.next_started_at = now
                    clock.next_paused_minutes = 0
                    bit = TARGET_BIT[Target.NEXT_RESPONSE]
                    clock.warned &= ~bit
                    clock.breached &= ~bit
            elif event.direction == "out":
                clock.next_started_at = None
        elif isinstance(event, StatusChanged) and _pause_or_resume(
            clock, conversation, event, now, policy
        ):
            _store(clock, conversation, policy)
            record(
                conversation.customer,
                "sla_resumed",
                conversation=conversation,
                paused_minutes=round(clock.paused_minutes),
                **_dues(conversation),
            )
            return
        _store(clock, conversation, policy)


def _pause_or_resume(
    clock: SlaClock,
    conversation: Conversation,
    event: StatusChanged,
    now: datetime,
    policy: SlaPolicy | None,
) -> bool:
    """Pause on pending/solved; on leaving them add the business time spent paused.
    True when the clocks resumed (the due times moved)."""
    if event.new in PAUSED_STATUSES:
        if clock.paused_at is None:
            clock.paused_at = now
        return False
    if clock.paused_at is None or event.new == Status.CLOSED:
        return False
    spent = business_minutes_between(
        schedule_for(policy.calendar if policy else None), clock.paused_at, now
    )
    clock.paused_minutes += spent
    if clock.next_started_at is not None and clock.next_started_at <= clock.paused_at:
        clock.next_paused_minutes += spent
    clock.paused_at = None
    return True


@listen(
    ConversationOpened,
    MessageAdded,
    StatusChanged,
    PriorityChanged,
    KindChanged,
    ConversationAssigned,
)
def update_clock(event: Any) -> None:
    if isinstance(event, MessageAdded) and (event.direction == "note" or event.automatic):
        return  # notes and kefu's automatic replies answer nobody
    if not any_policies():
        return  # no SLA configured: not one query for it
    _handle(event)
