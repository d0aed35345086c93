"""kefu's Redis channel layer against a real Redis: two layers stand for two web processes.

A group's members in the sending process get a message at once (not through Redis and back)
and exactly once; members elsewhere get it through Redis; order holds; a publish that Redis
refuses is an error for the sender, and the local members still had it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from typing import Any

import pytest
import redis.exceptions

from kefu.core.layers import RedisPubSubChannelLayer
from tests.core.services import redis_up

REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


pytestmark = pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")


def layer(prefix: str, url: str = REDIS_URL) -> Any:
    return RedisPubSubChannelLayer(hosts=[url], prefix=prefix)


async def drain(layer: Any, channel: str, wait: float = 0.3) -> list[dict[str, Any]]:
    """Every message the channel gets within ``wait`` seconds of the last one."""
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(layer.receive(channel), wait))
        except TimeoutError:
            return got


def test_group_members_here_and_elsewhere_get_each_message_once_in_order() -> None:
    async def scenario() -> tuple[list[int], list[int], list[int]]:
        prefix = f"kefu-test-{secrets.token_hex(4)}"
        here, there = layer(prefix), layer(prefix)
        try:
            mine, also_mine = await here.new_channel(), await here.new_channel()
            theirs = await there.new_channel()
            for channel, on in ((mine, here), (also_mine, here), (theirs, there)):
                await on.group_add("agent.7", channel)
            for n in range(50):
                await here.group_send("agent.7", {"type": "chat.frame", "n": n})
            results = [await drain(here, mine), await drain(here, also_mine)]
            results.append(await drain(there, theirs))
            return tuple([m["n"] for m in got] for got in results)  # type: ignore[return-value]
        finally:
            await here.flush()
            await there.flush()

    mine, also_mine, theirs = asyncio.run(scenario())
    assert mine == list(range(50))  # once each: Redis's echo is not fanned out again
    assert also_mine == list(range(50))
    assert theirs == list(range(50))


def test_a_send_to_a_channel_reaches_it_in_this_process_and_in_another() -> None:
    async def scenario() -> tuple[Any, Any]:
        prefix = f"kefu-test-{secrets.token_hex(4)}"
        here, there = layer(prefix), layer(prefix)
        try:
            local, remote = await here.new_channel(), await there.new_channel()
            await here.send(local, {"type": "x", "to": "local"})
            await here.send(remote, {"type": "x", "to": "remote"})
            return await drain(here, local), await drain(there, remote)
        finally:
            await here.flush()
            await there.flush()

    local, remote = asyncio.run(scenario())
    assert local == [{"type": "x", "to": "local"}]
    assert remote == [{"type": "x", "to": "remote"}]


def test_publishes_of_one_turn_go_out_together_and_keep_their_order() -> None:
    """Many senders at once (a burst of chat lines): one pipeline, every frame in order."""

    async def scenario() -> list[int]:
        prefix = f"kefu-test-{secrets.token_hex(4)}"
        here, there = layer(prefix), layer(prefix)
        try:
            theirs = await there.new_channel()
            await there.group_add("team.1", theirs)
            await asyncio.gather(
                *(here.group_send("team.1", {"type": "t", "n": n}) for n in range(200))
            )
            return [m["n"] for m in await drain(there, theirs)]
        finally:
            await here.flush()
            await there.flush()

    assert asyncio.run(scenario()) == list(range(200))


def test_a_refused_publish_is_the_senders_error_and_local_members_still_had_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed

    async def scenario() -> tuple[type[BaseException] | None, list[dict[str, Any]]]:
        dead = layer(f"kefu-test-{secrets.token_hex(4)}", f"redis://127.0.0.1:{port}/0")
        inner = dead._get_layer()  # a member joined while Redis was up
        mine = "kefu-test.specific.local"
        inner.channels[mine] = asyncio.Queue()
        inner.groups[inner._get_group_channel_name("g")] = {mine}
        error = None
        try:
            await dead.group_send("g", {"type": "x"})
        except Exception as caught:
            error = type(caught)
        got = await drain(dead, mine, wait=0.1)
        with contextlib.suppress(Exception):
            await dead.flush()
        return error, got

    error, got = asyncio.run(scenario())
    assert error is not None and issubclass(error, redis.exceptions.ConnectionError)
    assert got == [{"type": "x"}]
