"""Realtime listener: conversation events → the channel-layer groups of the browsers that care.

The payload is small (ids only); each websocket consumer renders the fragment for its own
agent (language, time zone, permissions), so nothing is sent to someone who may not see it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from kefu.conversations.models import Channel
from kefu.core import realtime
from kefu.core.events import (
    AgentDeactivated,
    ConversationAssigned,
    ConversationEvent,
    MessageAdded,
    listen,
)


@listen(ConversationEvent)
def push_conversation_event(event: ConversationEvent) -> None:
    groups = [realtime.conversation_group(event.conversation_id)]
    chat_line = (
        isinstance(event, MessageAdded) and event.channel == Channel.CHAT and event.assignee_id
    )
    if not chat_line:
        # Every line of an assigned live chat would refresh every inbox of the team (and the
        # agent's own): whoever has the chat open is told here, its agent gets the line from
        # the chat channel's own frame; inboxes hear of chats on every other change.
        groups += [realtime.team_group(event.team_id), realtime.ADMIN_GROUP]
        if event.assignee_id:
            groups.append(realtime.agent_group(event.assignee_id))
    if isinstance(event, ConversationAssigned):
        groups.append(realtime.team_group(event.previous_team_id))
        if event.previous_assignee_id:
            groups.append(realtime.agent_group(event.previous_assignee_id))
    realtime.publish(
        groups,
        {
            "type": "conversation.event",
            # One id per event: a socket in several of these groups handles it once.
            "event_id": uuid.uuid4().hex,
            "event": type(event).__name__,
            "conversation_id": event.conversation_id,
            "message_id": event.message_id if isinstance(event, MessageAdded) else None,
            "direction": event.direction if isinstance(event, MessageAdded) else None,
            "channel": event.channel if isinstance(event, MessageAdded) else None,
            "actor_id": event.actor_id,
        },
    )


@listen(AgentDeactivated)
def end_deactivated_sessions(event: AgentDeactivated) -> None:
    realtime.publish([realtime.agent_group(event.agent_id)], {"type": "session.end"})


@receiver(user_logged_out)
def end_sessions_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Signing out closes the agent's open workspace sockets (in every tab and process)."""
    if user is not None:
        realtime.publish([realtime.agent_group(user.pk)], {"type": "session.end"})
