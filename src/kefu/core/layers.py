"""The in-process channel layer of the embedded default, tuned for many long-lived sockets.

channels' own ``InMemoryChannelLayer`` walks every channel and group membership on each send
and receive to expire old messages, which grows with the number of open sockets (a thousand
chat visitors make every message cost a thousand-entry sweep). Expiry is counted in tens of
seconds, so sweeping at most once a second changes nothing a client can see. Group
memberships do not expire after a day either: a workspace tab left open over night must keep
hearing its team.
"""

from __future__ import annotations

import time
from typing import Any

from channels.consumer import get_handler_name
from channels.layers import InMemoryChannelLayer as _ChannelsInMemoryLayer

SWEEP_EVERY = 1.0  # seconds


class InMemoryChannelLayer(_ChannelsInMemoryLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("group_expiry", 10 * 365 * 86400)
        kwargs.setdefault("capacity", 1000)
        super().__init__(*args, **kwargs)
        self._last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        super()._clean_expired()


class DispatchWithoutDatabase:
    """Consumer mixin: handle each message without first queueing on the database thread.

    channels' ``AsyncConsumer.dispatch`` runs ``close_old_connections`` through
    ``sync_to_async`` before every message a consumer handles (a frame from the browser, a
    group message), and that call goes to the one thread-sensitive thread that does all the
    database work of the process. A chat line relayed to an agent then waited behind whatever
    that thread was writing. Consumers using this mixin reach the database only through
    ``database_sync_to_async``, which closes stale connections on that thread itself.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
