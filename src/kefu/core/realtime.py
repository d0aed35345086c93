"""One door to the channel layer: publish small payloads to groups of browsers.

Groups: ``conversation.<id>``, ``team.<id>`` (``team.none`` for the general queue),
``agent.<user id>`` and ``inbox.all`` (admins). In the embedded default the worker and
scheduler run as threads of the web process; their publishes are handed to the web server's
event loop so the in-memory channel layer sees them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None


def set_server_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    global _server_loop
    _server_loop = loop


def team_group(team_id: int | None) -> str:
    return f"team.{team_id if team_id is not None else 'none'}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


ADMIN_GROUP = "inbox.all"


def publish(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for group in dict.fromkeys(groups):
            await layer.group_send(group, message)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    loop = _server_loop
    try:
        if loop is not None and loop.is_running() and running is not loop:
            asyncio.run_coroutine_threadsafe(send_all(), loop).result(timeout=5)
        else:
            async_to_sync(send_all)()
    except Exception:
        logger.exception("could not publish %s to %s", message.get("type"), groups)
