"""Events → fact refreshes (as background tasks, never inline in a request)."""

from __future__ import annotations

from kefu.core.events import ConversationEvent, ConversationsMerged, CustomerChanged, listen


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
