"""The in-process channel layer of the embedded default, tuned for many long-lived sockets.

channels' own ``InMemoryChannelLayer`` walks every channel and group membership on each send
and receive to expire old messages, which grows with the number of open sockets (a thousand
chat visitors make every message cost a thousand-entry sweep). Expiry is counted in tens of
seconds, so sweeping at most once a second changes nothing a client can see. Group
memberships do not expire after a day either: a workspace tab left open over night must keep
hearing its team.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import ChannelFull, StopConsumer
from channels.layers import BaseChannelLayer, get_channel_layer
from channels.layers import InMemoryChannelLayer as _ChannelsInMemoryLayer
from channels_redis.pubsub import RedisPubSubChannelLayer as _ChannelsPubSubLayer
from channels_redis.pubsub import RedisPubSubLoopLayer as _ChannelsPubSubLoopLayer
from channels_redis.pubsub import RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

SWEEP_EVERY = 1.0  # seconds
NEVER = 10 * 365 * 86400  # group memberships "expire" after ten years


class InMemoryChannelLayer(_ChannelsInMemoryLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("group_expiry", NEVER)
        kwargs.setdefault("capacity", 1000)
        super().__init__(*args, **kwargs)
        self._last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        if self.group_expiry < NEVER:
            super()._clean_expired()
            return
        # channels' sweep without its walk over every group membership, none of which can
        # expire here (a thousand sockets are a few thousand memberships, every second).
        wall = time.time()
        for channel, queue in list(self.channels.items()):
            while not queue.empty() and queue._queue[0][0] < wall:
                queue.get_nowait()
                self._remove_from_groups(channel)
                if queue.empty():
                    self.channels.pop(channel, None)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """As channels' own, without a task and a wait per member: a send here only puts the
        message on an in-process queue, so each member gets it at once, in turn (a chat line
        to its agent's one or two sockets cost three tasks)."""
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            with contextlib.suppress(ChannelFull):  # as channels: a full channel misses it
                await self.send(channel, message)


class DispatchWithoutDatabase:
    """Consumer mixin: handle each message without first queueing on the database thread.

    channels' ``AsyncConsumer.dispatch`` runs ``close_old_connections`` through
    ``sync_to_async`` before every message a consumer handles (a frame from the browser, a
    group message), and that call goes to the one thread-sensitive thread that does all the
    database work of the process. A chat line relayed to an agent then waited behind whatever
    that thread was writing. Consumers using this mixin reach the database only through
    ``database_sync_to_async``, which closes stale connections on that thread itself.
    """

    channel_layer_alias: str
    channel_layer: Any
    channel_name: str
    scope: Any
    base_send: Any

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """As channels' ``AsyncConsumer.__call__``, with a leaner wait for the next message
        (its ``await_many_dispatch`` builds an ``asyncio.wait`` over both sources for each
        one; here each source's pending read reports to one queue when it completes)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            sources.append(functools.partial(self.channel_layer.receive, self.channel_name))
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            await _dispatch_from(sources, self.dispatch)

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


async def _dispatch_from(
    sources: list[Callable[[], Awaitable[dict[str, Any]]]],
    dispatch: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Each message of any source to ``dispatch``, one at a time, as they come; one read
    pending per source (as channels' ``await_many_dispatch``)."""
    done: asyncio.Queue[int] = asyncio.Queue()

    def read(i: int) -> asyncio.Future[dict[str, Any]]:
        future = asyncio.ensure_future(sources[i]())
        future.add_done_callback(lambda _: done.put_nowait(i))
        return future

    pending = [read(i) for i in range(len(sources))]
    try:
        while True:
            i = await done.get()
            message = pending[i].result()
            pending[i] = read(i)
            await dispatch(message)
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class SendOnly(RuntimeError):
    """A forwarding layer was asked to receive or to own a channel: it only sends."""


class ForwardingLayer(BaseChannelLayer):
    """The channel layer of a process without sockets whose parent has them (the chat writer
    process, :mod:`kefu.livechat.writer_process`): every send is handed to ``forward`` as
    ``("publish", group, message)`` or ``("send", channel, message)``, and the parent sends
    it on its own layer. Nothing is ever received here."""

    extensions = ["groups"]

    def __init__(self, forward: Callable[[tuple[str, str, dict[str, Any]]], None]) -> None:
        super().__init__()
        self.forward = forward

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.forward(("send", channel, message))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.forward(("publish", group, message))

    async def group_add(self, group: str, channel: str) -> None:
        raise SendOnly("a forwarding layer has no channels of its own")

    async def group_discard(self, group: str, channel: str) -> None:
        return None

    async def new_channel(self, prefix: str = "specific.") -> str:
        raise SendOnly("a forwarding layer has no channels of its own")

    async def receive(self, channel: str) -> dict[str, Any]:
        raise SendOnly("a forwarding layer has no channels of its own")

    async def flush(self) -> None:
        return None


# The Redis layer ----------------------------------------------------------------------------

ORIGIN_SIZE = 8  # bytes of the sending layer's id in front of every published message


class _Shard(RedisSingleShardConnection):
    """One Redis connection of :class:`RedisPubSubLoopLayer`, with publishes pipelined and a
    process's own group messages not fanned out a second time.

    channels_redis sends each publish alone and under the shard's lock: every frame waits for
    the reply to the one before it, and under load that wait is the event loop's, not Redis's.
    Here the publishes of one turn of the loop go out as one pipeline (in their order), and
    those made while it is on its way go in the next one."""

    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: bytes) -> None:
        future = asyncio.get_running_loop().create_future()
        self._outbox.append((channel, message, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="kefu-layer-publish")
        await future

    async def _flush(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                async with self._lock:
                    self._ensure_redis()
                    pipe = self._redis.pipeline(transaction=False)
                    for channel, message, _ in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except Exception as error:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for *_, future in batch:
                    if not future.done():
                        future.set_result(None)

    def _receive_message(self, message: Any) -> None:
        if message is None:
            return
        name, data = message["channel"], message["data"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        origin, data = data[:ORIGIN_SIZE], data[ORIGIN_SIZE:]
        if name in layer.channels:
            layer.channels[name].put_nowait(data)
        elif origin != layer.origin:  # this layer's own members had it at once
            for channel in layer.groups.get(name, ()):
                queue = layer.channels.get(channel)
                if queue is not None:
                    queue.put_nowait(data)


class RedisPubSubLoopLayer(_ChannelsPubSubLoopLayer):
    """channels_redis's pub/sub layer of one event loop, with the members of a group in this
    process served at once instead of through Redis and back, and a send to a channel of this
    process put straight on its queue. Every message published carries this layer's id, so
    that it is not handed to its local members a second time when Redis echoes it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.origin = secrets.token_bytes(ORIGIN_SIZE)
        self._shards = [_Shard(host, self) for host in decode_hosts(kwargs.get("hosts"))]

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        data = self.channel_layer.serialize(message)
        queue = self.channels.get(channel)
        if queue is not None:
            queue.put_nowait(data)
            return
        await self._get_shard(channel).publish(channel, self.origin + data)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        group_channel = self._get_group_channel_name(group)
        data = self.channel_layer.serialize(message)
        for channel in self.groups.get(group_channel, ()):
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(data)
        await self._get_shard(group_channel).publish(group_channel, self.origin + data)


class RedisPubSubChannelLayer(_ChannelsPubSubLayer):
    """The Redis channel layer of several processes (``KEFU_REDIS_URL``): channels_redis's
    pub/sub layer with the loop layer above. Every process must use this class (a message
    starts with its sender's id)."""

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = RedisPubSubLoopLayer(
                *self._args, **self._kwargs, channel_layer=self
            )
            _wrap_close(self, loop)
        return layer
