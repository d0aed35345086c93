"""One door to the channel layer: publish small payloads to groups of browsers.

Groups: ``conversation.<id>``, ``team.<id>`` (``team.none`` for the general queue),
``agent.<user id>`` and ``inbox.all`` (admins). In the embedded default the worker and
scheduler run as threads of the web process; their publishes are handed to the web server's
event loop so the in-memory channel layer sees them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

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


_publisher_loop: asyncio.AbstractEventLoop | None = None
_publisher_lock = threading.Lock()


def _publisher() -> asyncio.AbstractEventLoop:
    """One event loop in a thread of its own for publishes from synchronous code (workers,
    commands), so the channel layer keeps its connections instead of a new loop per event."""
    global _publisher_loop
    with _publisher_lock:
        if _publisher_loop is None or _publisher_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="kefu-publisher", daemon=True).start()
            _publisher_loop = loop
        return _publisher_loop


def _listeners_anywhere(layer: Any, groups: list[str]) -> list[str]:
    """The groups someone may be listening to. The in-memory layer only reaches sockets of
    this process, so an empty group there has nobody to tell (the common case in a worker or
    a mail pipe): skip the send altogether."""
    if isinstance(layer, InMemoryChannelLayer):
        return [g for g in groups if layer.groups.get(g)]
    return groups


_forward: Callable[[list[str], dict[str, Any]], None] | None = None


def forward_publishes(forward: Callable[[list[str], dict[str, Any]], None] | None) -> None:
    """Hand every publish of this process to ``forward`` instead of the channel layer: a
    process without sockets whose parent has them (the chat writer process)."""
    global _forward
    _forward = forward


def publish(groups: list[str], message: dict[str, Any]) -> None:
    if _forward is not None:
        _forward(list(dict.fromkeys(groups)), message)
        return
    layer = get_channel_layer()
    if layer is None:
        return
    groups = _listeners_anywhere(layer, list(dict.fromkeys(groups)))
    if not groups:
        return

    async def send_all() -> None:
        for group in groups:
            await layer.group_send(group, message)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    loop = _server_loop
    on_server = loop is not None and loop.is_running()
    if not on_server:
        loop = _publisher()
    assert loop is not None
    try:
        if running is loop:
            raise RuntimeError("publish() called from the event loop it would block")
        future = asyncio.run_coroutine_threadsafe(send_all(), loop)
        if on_server:
            # The web server's loop runs for the life of the process: hand the frames over
            # and go on (they keep their order on that loop). Waiting here made every
            # database thread stall once per group.
            future.add_done_callback(lambda f: _log_failure(f, message, groups))
        else:
            future.result(timeout=5)  # a command or test may exit right after
    except Exception:
        logger.exception("could not publish %s to %s", message.get("type"), groups)


def _log_failure(future: Any, message: dict[str, Any], groups: list[str]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error(
            "could not publish %s to %s: %r", message.get("type"), groups, future.exception()
        )
