"""The visitor's websocket: one per widget iframe; reads and writes only the visitor's own chat.

The protocol is in docs/livechat.md. Every write goes through :mod:`kefu.livechat.actions`;
frames to the visitor come from the channel layer (``chat.frame``) or answer a request here.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import translation
from django.utils.translation import gettext as _

from kefu.core import realtime
from kefu.core.errors import ActionError
from kefu.core.layers import DispatchWithoutDatabase
from kefu.livechat import actions, lines, payloads, push
from kefu.livechat.identity import visitor_from_token
from kefu.livechat.models import ChatSession, Visitor, Widget

MAX_FRAME = 8 * 1024
TYPING_EVERY = 1.5  # seconds: at most one typing notice per visitor in this window


def origin_allowed(widget: Widget, origin: str, host: str) -> bool:
    """The iframe (kefu's own origin) or one of the widget's sites."""
    if not origin:
        return False
    origin = origin.rstrip("/").lower()
    if origin in widget.origins:
        return True
    return bool(host) and urlsplit(origin).netloc == host.lower()


class VisitorConsumer(DispatchWithoutDatabase, AsyncWebsocketConsumer):
    visitor: Visitor
    session: ChatSession | None
    widget: Widget

    closed = False

    async def connect(self) -> None:
        self.session = None
        self.groups_joined: list[str] = []
        self.storing: set[asyncio.Task[None]] = set()
        self.last_typing = 0.0
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.scope["headers"]}
        key = self.scope["url_route"]["kwargs"]["key"]
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        found = await self._setup(key, token, headers.get("origin", ""), headers.get("host", ""))
        if found is None:
            await self.close(code=4403)
            return
        self.widget, self.visitor, self.session = found
        await self._join(push.visitor_group_for(str(self.visitor.uuid)))
        if self.session is not None:
            await self._join(realtime.conversation_group(self.session.conversation_id))
        await self.accept()

    @database_sync_to_async
    def _setup(
        self, key: str, token: str, origin: str, host: str
    ) -> tuple[Widget, Visitor, ChatSession | None] | None:
        widget = Widget.objects.filter(site_key=key, active=True).first()
        if widget is None or not origin_allowed(widget, origin, host):
            return None
        visitor = visitor_from_token(widget, token)
        if visitor is None:
            return None
        return widget, visitor, actions.current_session(visitor)

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return  # the socket went away while the frame was on its way
        try:
            await self.send(text_data=json.dumps(frame, ensure_ascii=False))
        except (RuntimeError, OSError):  # closed meanwhile (a keep-alive timeout, the client)
            self.closed = True

    async def _error(self, code: str, message: str, **extra: Any) -> None:
        await self._send({"op": "error", "code": code, "message": message, **extra})

    # From the browser ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME:
            await self._error("too_large", f"a frame is at most {MAX_FRAME} bytes")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("op"), str):
            await self._error("bad_frame", "frames are JSON objects with an op")
            return
        op = frame["op"]
        if op == "ping":
            await self._send({"op": "pong"})
        elif op == "hello":
            after = frame.get("after")
            for reply in await self._hello(after if isinstance(after, int) else 0):
                await self._send(reply)
        elif op == "typing":
            now = time.monotonic()
            if self.session is not None and now - self.last_typing >= TYPING_EVERY:
                self.last_typing = now
                await database_sync_to_async(push.typing_to_agent)(self.session)
        elif op == "msg":
            await self._line(frame)
        elif op in ("read", "end", "rate"):
            await self._act(op, frame)
        else:
            await self._error("bad_frame", f"unknown op {op[:20]!r}")

    @database_sync_to_async
    def _hello(self, after: int) -> list[dict[str, Any]]:
        self.session = actions.current_session(self.visitor)
        if self.session is None:
            return [{"op": "history", "messages": []}, {"op": "state", "state": "none"}]
        self.session.visitor = self.visitor
        return [
            {"op": "history", "messages": payloads.history(self.session, after)},
            push.state_frame(self.session),
        ]

    def _language(self) -> str | None:
        return self.visitor.language or self.widget.language or None

    async def _line(self, frame: dict[str, Any]) -> None:
        """A text line: checked here, relayed to the agent at once, acknowledged once the
        writer has stored it (see :mod:`kefu.livechat.lines`). The socket is not held up
        meanwhile."""
        session = self.session
        raw_cid = frame.get("cid")
        if session is None:
            await self._error("no_chat", "start a chat first")
            return
        cid = actions.clean_cid(raw_cid)
        writer = lines.writer()
        try:
            with translation.override(self._language()):
                if not isinstance(frame.get("text"), str):
                    raise actions.ChatError("bad_frame", "a message needs text")
                text = actions.check_line(session.state, frame["text"])
                known = writer.known(self.visitor.pk, cid)
                if isinstance(known, int):  # re-sent after it was stored
                    await self._send({"op": "ack", "cid": cid, "id": known})
                    return
                if known is None and not lines.rate_ok(self.visitor.pk):
                    raise actions.ChatError(
                        "rate_limited", _("Too many messages at once; wait a few seconds.")
                    )
                line = actions.Line(
                    session_id=session.pk,
                    conversation_id=session.conversation_id,
                    visitor_id=self.visitor.pk,
                    text=text,
                    cid=cid,
                    language=self._language() or "",
                )
                future = writer.submit(line)
        except actions.ChatError as error:
            await self._error(error.code, str(error), cid=raw_cid)
            return
        relayed_to = None
        if known is None and session.state == ChatSession.State.ACTIVE and session.agent_id:
            relayed_to = session.agent_id
            await lines.to_agent(
                self.channel_layer,
                relayed_to,
                {
                    "op": "chat.line",
                    "conversation": session.conversation_id,
                    "message": lines.provisional(line),
                },
            )
        task = asyncio.create_task(
            lines.after_store(
                self.channel_layer,
                line,
                future,
                site_key=self.widget.site_key,
                visitor_group=push.visitor_group_for(str(self.visitor.uuid)),
                relayed_to=relayed_to,
                reply=self._send,
                resent=known is not None,
            )
        )
        self.storing.add(task)
        task.add_done_callback(self.storing.discard)

    async def _act(self, op: str, frame: dict[str, Any]) -> None:
        if self.session is None:
            await self._error("no_chat", "start a chat first")
            return
        try:
            reply = await self._do_in_language(op, frame)
        except actions.ChatError as error:
            await self._error(error.code, str(error), cid=frame.get("cid"))
            return
        except ActionError as error:
            await self._error("invalid", str(error), cid=frame.get("cid"))
            return
        if reply is not None:
            await self._send(reply)

    @database_sync_to_async
    def _do_in_language(self, op: str, frame: dict[str, Any]) -> dict[str, Any] | None:
        """Errors reach the visitor in their language."""
        with translation.override(self._language()):
            return self._do(op, frame)

    def _do(self, op: str, frame: dict[str, Any]) -> dict[str, Any] | None:
        # Re-read the chat's state (an agent may have ended it); the rest is already here.
        session = ChatSession.objects.get(pk=self.session.pk if self.session else 0)
        session.widget, session.visitor = self.widget, self.visitor
        self.session = session
        if op == "read":
            message_id = frame.get("id")
            if isinstance(message_id, int):
                actions.mark_read(session, by="visitor", message_id=message_id)
            return None
        if op == "end":
            actions.end_chat(session, by="visitor")
            return None
        comment = frame.get("comment")
        actions.rate_chat(
            session,
            score=frame.get("score"),
            comment=comment if isinstance(comment, str) else "",
        )
        return None

    # From the channel layer ---------------------------------------------------------------

    async def chat_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        conversation_id = frame.get("conversation")
        if frame.get("op") == "state" and conversation_id:
            # The chat was routed, transferred or ended: lines are relayed to its agent, and
            # refused once it ended. A new or (re)assigned chat is re-read for its agent.
            session = self.session
            if (
                session is None
                or session.conversation_id != conversation_id
                or frame.get("state") == ChatSession.State.ACTIVE
            ):
                self.session = await self._session(conversation_id) or self.session
            elif isinstance(frame.get("state"), str):
                session.state = frame["state"]
            await self._join(realtime.conversation_group(conversation_id))
        await self._send(frame)

    @database_sync_to_async
    def _session(self, conversation_id: int) -> ChatSession | None:
        return (
            ChatSession.objects.filter(conversation_id=conversation_id, visitor=self.visitor)
            .select_related("conversation", "widget", "visitor")
            .first()
        )

    async def conversation_typing(self, event: dict[str, Any]) -> None:
        await self._send({"op": "typing", "who": event.get("who", "")})

    async def conversation_event(self, event: dict[str, Any]) -> None:
        """Agents' page events; the widget hears about messages through ``chat.frame``."""

    async def viewers_changed(self, event: dict[str, Any]) -> None:
        """Which agents look at the conversation is not the visitor's business."""
