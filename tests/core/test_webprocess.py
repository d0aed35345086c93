"""The web server's garbage collection: what lived a while is frozen, and a reclaim frees
the cycles that died frozen (kefu.core.webprocess)."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Iterator

import pytest

from kefu.core import webprocess


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's own objects back in the collector's sight


def test_a_frozen_cycle_outlives_collections_until_the_reclaim() -> None:
    node = Node()
    alive = weakref.ref(node)
    webprocess.freeze_survivors()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert alive() is not None  # frozen: full collections do not walk it
    assert webprocess.reclaim() >= 1
    assert alive() is None


def test_young_garbage_is_collected_not_frozen() -> None:
    node = Node()
    alive = weakref.ref(node)
    del node
    webprocess.freeze_survivors()  # collects the young generations first
    assert alive() is None


def test_the_server_loop_freezes_survivors_and_reclaims_on_its_own() -> None:
    async def scenario() -> tuple[bool, bool]:
        task = asyncio.create_task(webprocess.keep_pauses_short(0.01, 0.01, 0.2))
        node = Node()
        alive = weakref.ref(node)
        await asyncio.sleep(0.05)  # frozen meanwhile
        del node
        gc.collect()
        frozen_then = alive() is not None
        await asyncio.sleep(0.4)  # a reclaim came round
        task.cancel()
        return frozen_then, alive() is None

    frozen_then, freed = asyncio.run(scenario())
    assert frozen_then
    assert freed


def test_closed_sockets_bring_the_reclaim_forward(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kefu.core.webprocess")

    async def app(scope: object, receive: object, send: object) -> None:
        pass

    counted = webprocess.watching(app)

    async def scenario() -> tuple[bool, bool]:
        task = asyncio.create_task(webprocess.keep_pauses_short(0.01, 0.01, 3600, 3))
        grown = [Node() for _ in range(100_000)]  # growth alone brings no reclaim
        await asyncio.sleep(0.05)
        quiet = "full garbage collection" not in caplog.text
        for _ in range(3):
            await counted({"type": "websocket"}, None, None)
        await asyncio.sleep(0.05)
        task.cancel()
        del grown
        return quiet, "full garbage collection" in caplog.text

    quiet, reclaimed = asyncio.run(scenario())
    assert quiet  # while no socket closed
    assert reclaimed  # three closed sockets, long before the hour


def test_young_survivors_are_frozen_unless_a_request_is_being_served() -> None:
    gc.callbacks.append(webprocess.freeze_after_young_collection)
    try:
        node = Node()
        before = gc.get_freeze_count()
        gc.collect(0)
        assert gc.get_freeze_count() > before  # the survivors, ``node`` among them

        during: list[bool] = []

        async def view(scope: object, receive: object, send: object) -> None:
            frozen = gc.get_freeze_count()
            objects = [Node() for _ in range(10)]
            gc.collect(0)
            during.append(gc.get_freeze_count() == frozen)  # not frozen mid-request
            del objects

        asyncio.run(webprocess.watching(view)({"type": "http"}, None, None))
        assert during == [True]
        assert not webprocess.quiet()  # the request's garbage waits for a collection
        gc.collect(0)
        assert webprocess.quiet()
        del node
    finally:
        gc.callbacks.remove(webprocess.freeze_after_young_collection)
