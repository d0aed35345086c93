"""The in-process channel layer the chat relays through (kefu.core.layers): a group message
reaches every member once, a full member misses it without the others missing it; an expired
message is swept, while a membership does not expire however old."""

from __future__ import annotations

import asyncio
import time

from kefu.core import layers


def test_group_send_reaches_each_member_once_and_a_full_one_misses_it_alone():
    async def run() -> tuple[list[dict], list[dict], int]:
        layer = layers.InMemoryChannelLayer(capacity=1)
        one, full, other = [await layer.new_channel() for _ in range(3)]
        for channel in (one, full, other):
            await layer.group_add("agent.7", channel)
        await layer.send(full, {"type": "first"})  # capacity 1: the next one does not fit
        await layer.group_send("agent.7", {"type": "workspace.frame", "frame": {"op": "chat"}})
        got_one = [await layer.receive(one)]
        got_other = [await layer.receive(other)]
        got_full = [await layer.receive(full)]
        return got_one + got_other, got_full, len(layer.groups["agent.7"])

    members, full, in_group = asyncio.run(run())
    assert members == [{"type": "workspace.frame", "frame": {"op": "chat"}}] * 2
    assert full == [{"type": "first"}]
    assert in_group == 3


def test_an_expired_message_is_swept_and_memberships_never_expire(monkeypatch):
    async def run() -> tuple[bool, set[str], str]:
        layer = layers.InMemoryChannelLayer(expiry=60)
        gone, listening = [await layer.new_channel() for _ in range(2)]
        for channel in (gone, listening):
            await layer.group_add("conversation.1", channel)
        await layer.send(gone, {"type": "old"})  # nobody reads it: its consumer is gone
        real_time = time.time
        monkeypatch.setattr(layers.time, "time", lambda: real_time() + 3 * 365 * 86400)
        layer._last_sweep = 0.0
        layer._clean_expired()
        return gone in layer.channels, set(layer.groups["conversation.1"]), listening

    still_queued, members, listening = asyncio.run(run())
    assert not still_queued
    assert members == {listening}  # as in channels, the dead channel leaves its groups
