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
    StatusChanged,
    listen,
)

TILES_EVERY = 2  # seconds: at most one "tiles changed" frame per team group in this window


@listen(ConversationEvent)
def conversation_changed(event: ConversationEvent) -> None:
    from kefu.analytics.tasks import refresh_conversation

    refresh_conversation.enqueue(event.conversation_id)
    if isinstance(event, ConversationsMerged):
        refresh_conversation.enqueue(event.source_id)


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
