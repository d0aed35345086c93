"""Live chat in real time: conversation events → the visitor's widget and the agent's chat
panel. The channel layer may drop a frame; clients fill gaps from the database (``hello``)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from kefu.conversations.models import Channel, Message, Status
from kefu.core import realtime
from kefu.core.events import (
    AgentAvailabilityChanged,
    ConversationAssigned,
    MessageAdded,
    StatusChanged,
    listen,
)
from kefu.livechat import routing
from kefu.livechat.models import ChatSession
from kefu.livechat.payloads import VISIBLE, agent_name, message_object


def visitor_group(session: ChatSession) -> str:
    return visitor_group_for(str(session.visitor.uuid))


def visitor_group_for(visitor_uuid: str) -> str:
    return f"visitor.{visitor_uuid.replace('-', '')}"


def to_visitor(session: ChatSession, frame: dict[str, Any]) -> None:
    realtime.publish([visitor_group(session)], {"type": "chat.frame", "frame": frame})


def to_agent(agent_id: int, frame: dict[str, Any]) -> None:
    realtime.publish([realtime.agent_group(agent_id)], {"type": "workspace.frame", "frame": frame})


def state_frame(session: ChatSession) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "op": "state",
        "conversation": session.conversation_id,
        "state": session.state,
        "rated": session.rating is not None,
    }
    if session.state == ChatSession.State.QUEUED:
        frame["position"] = routing.position(session)
    if session.state == ChatSession.State.ACTIVE:
        frame["agent"] = agent_name(session.agent_id)
    return frame


def state(session: ChatSession) -> None:
    to_visitor(session, state_frame(session))


def offered(session: ChatSession) -> None:
    state(session)
    if session.agent_id is not None:
        to_agent(
            session.agent_id,
            {
                "op": "chat.offer",
                "conversation": session.conversation_id,
                "customer": str(session.conversation.customer),
            },
        )


def read(session: ChatSession, *, by: str, message_id: int) -> None:
    if by == "agent":
        to_visitor(session, {"op": "read", "id": message_id})


def invited(session: ChatSession, supervisor_id: int, by: Any) -> None:
    to_agent(
        supervisor_id,
        {
            "op": "chat.invite",
            "conversation": session.conversation_id,
            "by": str(by or ""),
            "customer": str(session.conversation.customer),
        },
    )


def typing_to_agent(session: ChatSession) -> None:
    if session.agent_id is not None:
        to_agent(session.agent_id, {"op": "chat.typing", "conversation": session.conversation_id})


# Listeners ----------------------------------------------------------------------------------

_sent_by_caller: set[int] = set()
_sent_lock = threading.Lock()


def sent_by_caller(message_ids: Iterable[int], *, add: bool = True) -> None:
    """Visitor lines whose frames the caller sends itself, built from the instances it holds
    (:func:`kefu.livechat.actions.store_lines`): the listener below does not read them back.
    ``add=False`` takes ids back (their transaction rolled back)."""
    with _sent_lock:
        if add:
            _sent_by_caller.update(message_ids)
        else:
            _sent_by_caller.difference_update(message_ids)


def _claimed(message_id: int) -> bool:
    with _sent_lock:
        if message_id in _sent_by_caller:
            _sent_by_caller.discard(message_id)
            return True
    return False


def _live_session(conversation_id: int) -> ChatSession | None:
    return (
        ChatSession.objects.filter(conversation_id=conversation_id)
        .select_related("visitor", "widget")
        .first()
    )


@listen(MessageAdded)
def push_chat_message(event: MessageAdded) -> None:
    if event.direction not in VISIBLE:
        return  # internal notes never reach the visitor
    if event.channel and event.channel != Channel.CHAT:
        return  # an email or phone line of a conversation that is not a chat: no query
    if event.direction == "in" and _claimed(event.message_id):
        return
    session = _live_session(event.conversation_id)
    if session is None:
        return
    message = Message.objects.prefetch_related("attachments").filter(pk=event.message_id).first()
    if message is None:
        return
    payload = message_object(message, session.widget.site_key)
    to_visitor(session, {"op": "msg", "message": payload})
    if event.assignee_id is not None:
        to_agent(
            event.assignee_id,
            {"op": "chat", "conversation": event.conversation_id, "message": payload},
        )


@listen(ConversationAssigned)
def follow_assignment(event: ConversationAssigned) -> None:
    from kefu.livechat.actions import sync_assignment

    sync_assignment(event.conversation_id, event.assignee_id)


@listen(StatusChanged)
def end_on_solve(event: StatusChanged) -> None:
    if event.new not in (Status.SOLVED, Status.CLOSED):
        return
    session = (
        ChatSession.objects.filter(
            conversation_id=event.conversation_id,
            state__in=(ChatSession.State.QUEUED, ChatSession.State.ACTIVE),
        )
        .select_related("conversation")
        .first()
    )
    if session is not None:
        from kefu.livechat.actions import end_chat

        end_chat(session, by="agent")


@listen(AgentAvailabilityChanged)
def route_on_availability(event: AgentAvailabilityChanged) -> None:
    from kefu.livechat.actions import dispatch

    dispatch()
