"""Events → fact refreshes (as background tasks, never inline in a request)."""

from __future__ import annotations

from django.core.cache import cache

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
    listen,
)

TILES_EVERY = 2  # seconds: at most one "tiles changed" frame per team group in this window


# seconds: a conversation's events within this window make one refresh. A minute: a busy chat
# sends a line every few seconds, and a task row per conversation every 10 s was a quarter of
# the chat writer's time at 200 lines/s (docs/benchmarks.md); dashboards are minutes-grained.
REFRESH_AFTER = 60


def schedule_refresh(conversation_id: int) -> None:
    """Refresh the conversation's fact soon, once for a burst of events (a chat's lines, an
    email's message + acknowledgment + SLA marks): a task per event cost more than the
    events themselves. The task clears the mark before it reads, so nothing is missed."""
    from datetime import timedelta

    from django.utils import timezone

    from kefu.analytics.tasks import refresh_conversation

    if not refresh_conversation.get_backend().supports_defer:
        refresh_conversation.enqueue(conversation_id)  # tests' immediate backend
        return
    if cache.add(pending_key(conversation_id), 1, REFRESH_AFTER * 6):
        refresh_conversation.using(
            run_after=timezone.now() + timedelta(seconds=REFRESH_AFTER)
        ).enqueue(conversation_id)


def pending_key(conversation_id: int) -> str:
    return f"kefu:analytics:pending:{conversation_id}"


@listen(ConversationEvent)
def conversation_changed(event: ConversationEvent) -> None:
    if isinstance(event, SlaWarning):
        return  # a near-breach changes no figure
    if isinstance(event, SlaBreached) and event.target != "first_response":
        # Only an unanswered first response changes the fact on its own (sla_first_met); a
        # resolution is judged when the conversation is solved, which is an event of its own.
        return
    schedule_refresh(event.conversation_id)
    if isinstance(event, ConversationsMerged):
        schedule_refresh(event.source_id)


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
