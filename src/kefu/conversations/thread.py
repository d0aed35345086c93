"""What the thread shows: messages and the conversation's own events, in time order."""

from __future__ import annotations

from typing import Any

from kefu.customers.models import TimelineEntry

# Timeline kinds that are messages already shown in the thread (not repeated as event lines).
MESSAGE_EVENTS = {"message_received", "reply_sent", "note_added", "conversation_opened"}


def latest_event(conversation: Any) -> TimelineEntry | None:
    """The newest event line of the conversation (for the live update of the thread)."""
    return (
        conversation.timeline.exclude(kind__in=MESSAGE_EVENTS)
        .select_related("actor__agent_profile")
        .order_by("-created_at", "-id")
        .first()
    )


def thread_items(conversation: Any) -> list[tuple[str, Any]]:
    """Messages and conversation events in time order, for the thread."""
    messages = list(
        conversation.messages.select_related(
            "author_agent", "author_agent__agent_profile", "author_customer"
        ).prefetch_related("attachments")
    )
    events = list(
        conversation.timeline.exclude(kind__in=MESSAGE_EVENTS)
        .select_related("actor", "actor__agent_profile")
        .order_by("created_at", "id")
    )
    items = [("message", m) for m in messages] + [("event", e) for e in events]
    items.sort(key=lambda item: item[1].created_at)
    return items
