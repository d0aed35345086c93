"""The agent workspace's one websocket: live messages, conversation changes, inbox refresh."""

from __future__ import annotations

import json
import time
import zoneinfo
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.utils import timezone, translation

from kefu.conversations import viewers
from kefu.conversations.access import can_see
from kefu.conversations.models import Conversation, Message
from kefu.conversations.thread import latest_event
from kefu.core import realtime
from kefu.core.i18n import scope_language
from kefu.core.layers import DispatchWithoutDatabase
from kefu.staff.access import agent_profile, team_ids


class WorkspaceConsumer(DispatchWithoutDatabase, AsyncWebsocketConsumer):
    groups: list[str]
    conversation_id: int | None

    async def connect(self) -> None:
        self.groups = []
        self.conversation_id = None
        self.seen: deque[str] = deque(maxlen=256)
        self.shown_viewers: list[str] = []
        self.last_typing = 0.0
        user = self.scope.get("user")
        setup = await self._setup(user)
        if setup is None:
            await self.close(code=4403)
            return
        self.groups, self.conversation_id, self.language, self.tz, self.name = setup
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        if self.conversation_id is not None:
            await self._viewing(joined=True)

    async def _viewing(self, *, joined: bool) -> None:
        assert self.conversation_id is not None
        if joined:
            viewers.join(self.conversation_id, self.channel_name, self.scope["user"].pk, self.name)
        else:
            viewers.leave(self.conversation_id, self.channel_name)
        await self.channel_layer.group_send(
            realtime.conversation_group(self.conversation_id), {"type": "viewers.changed"}
        )

    async def viewers_changed(self, event: dict[str, Any]) -> None:
        if self.conversation_id is None:
            return
        names = viewers.others(self.conversation_id, self.scope["user"].pk)
        if names != self.shown_viewers:  # only changes: a lone viewer hears nothing
            self.shown_viewers = names
            await self.send(text_data=json.dumps({"op": "viewers", "names": names}))

    async def session_end(self, event: dict[str, Any]) -> None:
        """The agent signed out or was deactivated: this socket closes at once."""
        await self.close(code=4401)

    @database_sync_to_async
    def _setup(self, user: Any) -> tuple[list[str], int | None, str, str, str] | None:
        profile = agent_profile(user)
        if profile is None:
            return None
        groups = [realtime.agent_group(user.pk)]
        if profile.sees_all_teams:
            groups.append(realtime.ADMIN_GROUP)
        else:
            groups.append(realtime.team_group(None))
            groups += [realtime.team_group(t) for t in sorted(team_ids(user))]
        conversation_id = None
        raw = parse_qs(self.scope.get("query_string", b"").decode()).get("conversation", [""])[0]
        if raw.isdigit():
            conversation = Conversation.objects.filter(pk=int(raw)).first()
            if conversation is None or not can_see(user, conversation):
                return None
            conversation_id = conversation.pk
            groups.append(realtime.conversation_group(conversation_id))
        # The profile's language, else the browser's, as for the pages (AgentPreferencesMiddleware)
        language = profile.language or scope_language(self.scope)
        return groups, conversation_id, language, profile.timezone, profile.name

    async def disconnect(self, code: int) -> None:
        if self.conversation_id is not None:
            await self._viewing(joined=False)
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Browsers mostly listen: a ping keeps proxies from closing an idle socket, and
        ``{"op": "typing"}`` tells the conversation's other side (a chat visitor, and the
        other agents who have it open) that the agent is writing."""
        if text_data == "ping":
            if self.conversation_id is not None:
                viewers.join(
                    self.conversation_id, self.channel_name, self.scope["user"].pk, self.name
                )
            await self.send(text_data=json.dumps({"op": "pong"}))
        elif text_data == '{"op":"typing"}' and self.conversation_id is not None:
            now = time.monotonic()
            if now - self.last_typing >= 1.5:
                self.last_typing = now
                await self.channel_layer.group_send(
                    realtime.conversation_group(self.conversation_id),
                    {
                        "type": "conversation.typing",
                        "who": self.name,
                        "agent": self.scope["user"].pk,
                    },
                )

    async def conversation_typing(self, event: dict[str, Any]) -> None:
        """Collision detection: another agent writing in this conversation's reply box is
        shown live ("Wang Fang is replying…"), so two agents never answer twice."""
        if event.get("agent") is None or event.get("agent") == self.scope["user"].pk:
            return
        await self.send(text_data=json.dumps({"op": "replying", "who": event.get("who", "")}))

    async def workspace_frame(self, event: dict[str, Any]) -> None:
        """A frame built by a channel app for this agent (e.g. a line of one of their chats)."""
        await self.send(text_data=json.dumps(event["frame"], ensure_ascii=False))

    async def conversation_event(self, event: dict[str, Any]) -> None:
        event_id = event.get("event_id")
        if event_id:
            if event_id in self.seen:
                return
            self.seen.append(event_id)
        for payload in await self._render(event):
            await self.send(text_data=json.dumps(payload))

    @database_sync_to_async
    def _render(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        user = self.scope["user"]
        conversation = (
            Conversation.objects.select_related("customer")
            .filter(pk=event["conversation_id"])
            .first()
        )
        if conversation is None or not can_see(user, conversation):
            return [{"op": "inbox"}]
        payloads: list[dict[str, Any]] = [{"op": "inbox"}]
        with translation.override(self.language or None), timezone.override(self._zone()):
            if conversation.pk == self.conversation_id:
                if event.get("message_id"):
                    message = (
                        Message.objects.select_related(
                            "author_agent__agent_profile", "author_customer"
                        )
                        .prefetch_related("attachments")
                        .filter(pk=event["message_id"], conversation=conversation)
                        .first()
                    )
                    if message is not None:
                        payloads.append(
                            {
                                "op": "message",
                                "id": f"msg-{message.pk}",
                                "html": render_to_string(
                                    "conversations/_message.html", {"message": message}
                                ),
                            }
                        )
                else:
                    payloads.append({"op": "props"})
                    entry = latest_event(conversation)
                    if entry is not None:
                        payloads.append(
                            {
                                "op": "message",
                                "id": f"ev-{entry.pk}",
                                "html": render_to_string(
                                    "conversations/_event.html", {"entry": entry}
                                ),
                            }
                        )
            if (
                event.get("direction") == "in"
                and event.get("actor_id") != user.pk
                and event.get("channel") != "chat"  # chat lines arrive as "chat" frames
            ):
                payloads.append(
                    {
                        "op": "toast",
                        "text": f"{conversation.customer}: {conversation.subject}"[:140],
                        "href": f"/c/{conversation.pk}/",
                    }
                )
        return payloads

    def _zone(self) -> Any:
        if self.tz:
            try:
                return zoneinfo.ZoneInfo(self.tz)
            except zoneinfo.ZoneInfoNotFoundError:
                pass
        return timezone.get_default_timezone()
