"""Events → fact refreshes (as background tasks, never inline in a request)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from kefu.core.events import (
    AgentAvailabilityChanged,
    ConversationAssigned,
    ConversationEvent,
    ConversationOpened,
    ConversationsMerged,
    CustomerChanged,
    Event,
    SlaBreached,
    SlaWarning,
    StatusChanged,
    collect,
    listen,
)

TILES_EVERY = 2  # seconds: at most one "tiles changed" frame per team group in this window


# seconds: a conversation's events within this window make one refresh. A minute: a busy chat
# sends a line every few seconds, and a task row per conversation every 10 s was a quarter of
# the chat writer's time at 200 lines/s (docs/benchmarks.md); dashboards are minutes-grained.
REFRESH_AFTER = 60
# seconds before a scheduled refresh may start during which this process trusts it to still
# come (clocks of the web and worker machines may differ by this much)
SKEW = 5
_scheduled: dict[int, float] = {}  # conversation → when this process's refresh of it starts
_SCHEDULED_MAX = 100_000


class _Batch:
    """The conversations one transaction's events touched, refreshed once on its commit."""

    __slots__ = ("done", "hooks", "ids")

    def __init__(self, hooks: list[Any]) -> None:
        self.hooks = hooks  # the connection's on-commit list this batch's flush is in
        self.ids: set[int] = set()
        self.done = False

    def flush(self) -> None:
        self.done = True
        schedule_refresh(self.ids)


def _batch() -> _Batch:
    """The current transaction's batch. Django replaces the connection's list of on-commit
    callbacks at every commit and rollback (and savepoint rollback), so a batch whose list is
    no longer the connection's belongs to a finished transaction."""
    conn = transaction.get_connection()
    batch: _Batch | None = getattr(conn, "_kefu_analytics_batch", None)
    if batch is not None and not batch.done:
        if batch.hooks is conn.run_on_commit:
            return batch
        if conn.in_atomic_block and any(f == batch.flush for _s, f, _r in conn.run_on_commit):
            batch.hooks = conn.run_on_commit  # a savepoint rolled back; the flush survived
            return batch
    batch = _Batch(conn.run_on_commit)
    conn._kefu_analytics_batch = batch
    if conn.in_atomic_block:
        conn.on_commit(batch.flush, robust=True)
    return batch


def schedule_refresh(ids: Iterable[int]) -> None:
    """Refresh these conversations' facts soon, with one task for a transaction's events and
    once for a burst of events (a chat's lines, an email's message + acknowledgment + SLA
    marks): a task per event cost more than the events themselves. A conversation this
    process scheduled a refresh for, which has not started yet, needs none; else a mark in
    the cache says another process did. The task clears the marks before it reads, so
    nothing is missed."""
    from kefu.analytics.tasks import refresh_conversations

    ids = set(ids)
    if not ids:
        return
    if not refresh_conversations.get_backend().supports_defer:
        refresh_conversations.enqueue(sorted(ids))  # tests' immediate backend
        return
    now = time.time()
    ids = {pk for pk in ids if _scheduled.get(pk, 0) <= now}
    if not ids:
        return
    if len(ids) == 1:
        (pk,) = ids
        if not cache.add(pending_key(pk), 1, REFRESH_AFTER * 6):
            return
    else:
        cache.set_many({pending_key(pk): 1 for pk in ids}, REFRESH_AFTER * 6)
    refresh_conversations.using(
        run_after=timezone.now() + timedelta(seconds=REFRESH_AFTER)
    ).enqueue(sorted(ids))
    if len(_scheduled) > _SCHEDULED_MAX:
        _scheduled.clear()
    until = now + REFRESH_AFTER - SKEW
    for pk in ids:
        _scheduled[pk] = until


def pending_key(conversation_id: int) -> str:
    return f"kefu:analytics:pending:{conversation_id}"


@collect(ConversationEvent)
def conversation_changed(event: ConversationEvent) -> None:
    """Gathers the conversations a transaction changes (inside it, as events are emitted);
    its commit schedules their refresh once."""
    if isinstance(event, SlaWarning):
        return  # a near-breach changes no figure
    if isinstance(event, SlaBreached) and event.target != "first_response":
        # Only an unanswered first response changes the fact on its own (sla_first_met); a
        # resolution is judged when the conversation is solved, which is an event of its own.
        return
    batch = _batch()
    batch.ids.add(event.conversation_id)
    if isinstance(event, ConversationsMerged):
        batch.ids.add(event.source_id)
    if not transaction.get_connection().in_atomic_block:
        batch.flush()  # emitted outside a transaction: at once


@listen(CustomerChanged)
def customer_changed(event: CustomerChanged) -> None:
    if event.what != "tier":
        return
    from kefu.analytics.tasks import refresh_customer

    refresh_customer.enqueue(event.customer_id)


@listen(ConversationOpened, ConversationAssigned, StatusChanged, AgentAvailabilityChanged)
def tiles_changed(event: Event) -> None:
    """Tell open dashboards that the live tiles (queue, waiting chats, agents online) moved;
    each browser re-fetches its own, scoped tiles."""
    from kefu.core.realtime import ADMIN_GROUP, publish, team_group

    groups = [ADMIN_GROUP]
    if isinstance(event, ConversationEvent):
        groups.append(team_group(event.team_id))
        if isinstance(event, ConversationAssigned) and event.previous_team_id != event.team_id:
            groups.append(team_group(event.previous_team_id))
    else:
        from kefu.staff.models import Team

        groups += [team_group(pk) for pk in Team.objects.values_list("pk", flat=True)]
    groups = [g for g in groups if cache.add(f"kefu:analytics:tiles:{g}", 1, TILES_EVERY)]
    if groups:
        publish(groups, {"type": "workspace.frame", "frame": {"op": "tiles"}})
