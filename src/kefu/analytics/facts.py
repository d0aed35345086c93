"""One conversation's figures, computed the same way for the listeners and for the rebuild.

Times are business minutes of the reporting calendar (the business calendar named by
``KEFU_ANALYTICS_CALENDAR``, else the first one defined; none defined: wall-clock minutes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from kefu.analytics.models import ConversationFact
from kefu.conversations.models import OPEN_STATUSES, Conversation, Message, Status

GOOD_RATING = 4  # CSAT counts 4 and 5 out of 5 as satisfied
_UNSET: Any = object()
_schedule: Any = _UNSET


def reporting_schedule() -> Any:
    """The business calendar's schedule used for every duration, or None (24/7)."""
    global _schedule
    if _schedule is _UNSET:
        from kefu.service.calendars import BusinessCalendar, schedule_for

        name = os.environ.get("KEFU_ANALYTICS_CALENDAR", "")
        calendars = BusinessCalendar.objects.order_by("id")
        calendar = (calendars.filter(name=name) if name else calendars).first()
        _schedule = schedule_for(calendar) if calendar else None
    return _schedule


def reset_schedule() -> None:
    global _schedule
    _schedule = _UNSET


def minutes_between(a: datetime, b: datetime) -> float:
    if b <= a:
        return 0.0
    schedule = reporting_schedule()
    if schedule is None:
        return (b - a) / timedelta(minutes=1)
    from kefu.service.calendars import business_minutes_between

    return business_minutes_between(schedule, a, b)


def local_day(t: datetime) -> date:
    return timezone.localtime(t, timezone.get_default_timezone()).date()


@dataclass(frozen=True)
class ConversationRow:
    id: int
    customer_id: int
    tier: str
    created_at: datetime
    team_id: int | None
    assignee_id: int | None
    channel: str
    kind: str
    status: str
    first_responded_at: datetime | None
    solved_at: datetime | None
    updated_at: datetime
    first_response_due: datetime | None
    resolution_due: datetime | None
    satisfaction: int | None


ROW_FIELDS = [
    "id",
    "customer_id",
    "customer__tier",
    "created_at",
    "team_id",
    "assignee_id",
    "channel",
    "kind",
    "status",
    "first_responded_at",
    "solved_at",
    "updated_at",
    "first_response_due",
    "resolution_due",
    "satisfaction",
]


def build_fact(
    row: ConversationRow,
    messages: Iterable[tuple[str, datetime]],
    reopens: int,
    chat: tuple[datetime, datetime | None, datetime | None, int | None] | None,
    tags: Iterable[int] = (),
) -> ConversationFact:
    """The fact of one conversation from its row, its (direction, time) messages in order
    (notes left out), its reopen count, its chat session (queued, accepted, ended, agent)
    and its tag ids."""
    replies = inbound = 0
    waiting_since: datetime | None = None
    answered_once = False
    next_response: list[float] = []
    for direction, at in messages:
        if direction == Message.Direction.IN:
            inbound += 1
            if waiting_since is None:
                waiting_since = at
        elif direction == Message.Direction.OUT:
            replies += 1
            if waiting_since is not None and answered_once:
                next_response.append(round(minutes_between(waiting_since, at), 2))
            answered_once = True
            waiting_since = None
    first = (
        round(minutes_between(row.created_at, row.first_responded_at), 2)
        if row.first_responded_at
        else None
    )
    resolved_at = row.solved_at
    if resolved_at is None and row.status == Status.CLOSED:
        resolved_at = row.updated_at
    if row.status in OPEN_STATUSES:
        resolved_at = None
    sla_first = None
    if row.first_response_due is not None and (
        row.first_responded_at is not None or row.first_response_due < timezone.now()
    ):
        sla_first = (
            row.first_responded_at is not None and row.first_responded_at <= row.first_response_due
        )
    sla_resolution = None
    if row.resolution_due is not None and resolved_at is not None:
        sla_resolution = resolved_at <= row.resolution_due
    wait = None
    missed = False
    chat_agent = accepted = ended = None
    if chat is not None:
        queued, accepted, ended, chat_agent = chat
        if accepted is not None:
            wait = round((accepted - queued).total_seconds(), 1)
        elif ended is not None:
            missed = True
    return ConversationFact(
        conversation_id=row.id,
        customer_id=row.customer_id,
        created_at=row.created_at,
        created_day=local_day(row.created_at),
        team_id=row.team_id,
        agent_id=row.assignee_id,
        channel=row.channel,
        kind=row.kind,
        tier=row.tier,
        status=row.status,
        first_response_minutes=first,
        next_response_minutes=next_response,
        resolved_day=local_day(resolved_at) if resolved_at else None,
        resolution_minutes=(
            round(minutes_between(row.created_at, resolved_at), 2) if resolved_at else None
        ),
        replies=replies,
        inbound=inbound,
        reopens=reopens,
        sla_first_met=sla_first,
        sla_resolution_met=sla_resolution,
        satisfaction=row.satisfaction,
        chat_wait_seconds=wait,
        chat_missed=missed,
        tags=sorted(set(tags)),
        chat_agent_id=chat_agent if accepted is not None else None,
        chat_accepted_at=accepted if chat_agent is not None else None,
        chat_ended_at=ended if chat_agent is not None and accepted is not None else None,
    )


def _reopen_counts(conversation_ids: list[int] | None = None) -> dict[int, int]:
    from django.db.models import Count

    from kefu.customers.models import TimelineEntry

    qs = TimelineEntry.objects.filter(
        kind="status_changed", data__old__in=[Status.SOLVED], conversation__isnull=False
    ).exclude(data__new__in=[Status.SOLVED, Status.CLOSED])
    if conversation_ids is not None:
        qs = qs.filter(conversation_id__in=conversation_ids)
    return dict(
        qs.values_list("conversation_id")
        .annotate(n=Count("id"))
        .values_list("conversation_id", "n")
    )


def _chats(conversation_ids: list[int] | None = None) -> dict[int, tuple[Any, Any, Any, Any]]:
    from kefu.livechat.models import ChatSession

    qs = ChatSession.objects.all()
    if conversation_ids is not None:
        qs = qs.filter(conversation_id__in=conversation_ids)
    return {
        c: (q, a, e, agent)
        for c, q, a, e, agent in qs.values_list(
            "conversation_id", "queued_at", "accepted_at", "ended_at", "agent_id"
        )
    }


def _tags(lo: int, hi: int) -> dict[int, list[int]]:
    """Tag ids of the conversations with ids from ``lo`` to ``hi``."""
    through = Conversation.tags.through
    out: dict[int, list[int]] = {}
    for cid, tag in (
        through.objects.filter(conversation_id__gte=lo, conversation_id__lte=hi)
        .order_by()
        .values_list("conversation_id", "tag_id")
    ):
        out.setdefault(cid, []).append(tag)
    return out


def fact_for(conversation_id: int) -> ConversationFact | None:
    """The fact of one conversation as it is now (None when it no longer exists)."""
    values = Conversation.objects.filter(pk=conversation_id).values_list(*ROW_FIELDS).first()
    if values is None:
        return None
    messages = (
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(direction=Message.Direction.NOTE)
        .order_by("created_at", "id")
        .values_list("direction", "created_at")
    )
    chat = _chats([conversation_id]).get(conversation_id)
    return build_fact(
        ConversationRow(*values),
        messages,
        _reopen_counts([conversation_id]).get(conversation_id, 0),
        chat,
        _tags(conversation_id, conversation_id).get(conversation_id, ()),
    )


def all_facts(batch: int = 5000) -> Iterator[ConversationFact]:
    """Every conversation's fact, streamed: conversations and messages are each read once in
    id order and merged (time and memory linear in the data)."""
    reopens = _reopen_counts()
    chats = _chats()
    last_id = 0
    while True:
        rows = list(
            Conversation.objects.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list(*ROW_FIELDS)[:batch]
        )
        if not rows:
            return
        lo, hi = rows[0][0], rows[-1][0]
        by_conversation: dict[int, list[tuple[datetime, int, str]]] = {}
        for cid, direction, at, mid in (
            Message.objects.filter(conversation_id__gte=lo, conversation_id__lte=hi)
            .exclude(direction=Message.Direction.NOTE)
            .order_by()
            .values_list("conversation_id", "direction", "created_at", "id")
            .iterator(chunk_size=20000)
        ):
            by_conversation.setdefault(cid, []).append((at, mid, direction))
        tags = _tags(lo, hi)
        for values in rows:
            row = ConversationRow(*values)
            messages = [(d, at) for at, _mid, d in sorted(by_conversation.get(row.id, ()))]
            yield build_fact(
                row, messages, reopens.get(row.id, 0), chats.get(row.id), tags.get(row.id, ())
            )
        last_id = hi


def fact_values(fact: ConversationFact | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    return {f.attname: getattr(fact, f.attname) for f in ConversationFact._meta.concrete_fields}
