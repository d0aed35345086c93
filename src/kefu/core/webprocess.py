"""What a long-running web process does that a test or a command does not.

**Database connections end with their request.** Django's ASGI handler runs every HTTP request
in a thread of its own (``ThreadSensitiveContext``), and Django keeps a connection per thread.
A connection kept for reuse (``CONN_MAX_AGE``) would outlive its thread, unreachable, open
until Python's garbage collector found it: one web process held 15–69 PostgreSQL connections
while a thousand chat visitors signed up. So, at the end of each request, the request thread's
connections are closed (PostgreSQL: given back to the process's pool). The sockets' database
calls all run on one shared thread, whose connection is kept.

**Garbage collection does not stop every socket at once.** CPython's full collection walks
every object the process holds, and nothing else runs while it does. A web process with a
thousand chat sockets holds a million objects or so: the full collection Python starts on its
own, whenever the long-lived objects have grown by a quarter, stopped every socket for
130–150 ms, in the middle of conversations. Young collections hurt too: each socket that has
just sent or received something waits again on new objects (futures, tasks, contexts), which
replace older ones as these die, so the count of new objects that starts a young collection
barely moves while the young generation grows to tens of thousands of objects, and the
collection that finally comes walks them all (30–50 ms, about 1 µs an object).

So the web server keeps what has lived a while out of the collector's sight (``gc.freeze``,
which moves every tracked object to a generation no collection walks, in constant time):

- everything loaded at start-up;
- right after each young collection that ran while no HTTP request was being served: its
  survivors are, at that moment, all reachable;
- every :data:`TICK` seconds, while *quiet* (no HTTP request served since the last young
  collection, none running), without collecting: socket traffic makes no cyclic garbage (the
  chat benchmark's young collections found none), so there is nothing to lose;
- otherwise every :data:`FREEZE_EVERY` seconds, after collecting the young generations.

A frozen object that dies by reference counting is freed as usual; only a frozen cycle of
garbage (a closed socket's objects, an HTTP request that was running at a freeze) waits for
the reclaim: everything is unfrozen and collected in one full collection, the one long pause,
and frozen again. A reclaim comes every :data:`RECLAIM_EVERY` seconds, or sooner once
:data:`RECLAIM_AFTER_CLOSED` sockets have closed since the last one (a socket leaves its
objects frozen when it closes, some 90 KiB each), so that memory stays bounded however many
chats come and go. Growth of the frozen objects is not a trigger: a process taking on a
thousand sockets grows tenfold from its start-up size, and reclaiming on growth paused every
socket in the middle of that (320 ms, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

logger = logging.getLogger(__name__)

TICK = 1.0  # seconds
FREEZE_EVERY = 10.0  # seconds
RECLAIM_EVERY = 1800.0  # seconds
RECLAIM_AFTER_CLOSED = 500  # sockets closed since the last reclaim

_sockets_closed = 0
_requests_running = 0  # HTTP requests being served
_requests_since_collection = False  # an HTTP request ended since the last young collection


def close_request_connections(**kwargs: Any) -> None:
    """``request_finished`` receiver: close this (request) thread's database connections."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()


def prepare() -> None:
    """Once, as the web server starts: request connections closed at the request's end, and
    what start-up loaded frozen."""
    from django.core.signals import request_finished

    request_finished.connect(close_request_connections, dispatch_uid="kefu-request-connections")
    settle()
    if freeze_after_young_collection not in gc.callbacks:
        gc.callbacks.append(freeze_after_young_collection)


def freeze_after_young_collection(phase: str, info: dict[str, Any]) -> None:
    """``gc`` callback: the survivors of a young collection frozen at once, unless an HTTP
    request is being served (its objects die as cycles when it ends)."""
    global _requests_since_collection
    if phase == "stop" and info["generation"] < 2 and not _requests_running:
        _requests_since_collection = False
        gc.freeze()


def quiet() -> bool:
    """No HTTP request since the last young collection: the young objects are sockets' own."""
    return not _requests_running and not _requests_since_collection


def settle() -> None:
    """At start-up: collect once, then freeze what start-up loaded."""
    gc.collect()
    gc.freeze()


def freeze_survivors() -> None:
    """Collect the young generations and freeze whatever is left."""
    gc.collect(1)
    gc.freeze()


def reclaim() -> int:
    """Unfreeze everything, collect it all (one full pause), freeze the survivors again."""
    started = time.perf_counter()
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    logger.info(
        "full garbage collection: %d unreachable objects, %d kept, %.0f ms",
        found,
        gc.get_freeze_count(),
        1000 * (time.perf_counter() - started),
    )
    return found


def watching(app: Any) -> Any:
    """ASGI wrapper: HTTP requests being served, and websockets that have ended, counted."""

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        global _requests_running, _requests_since_collection, _sockets_closed
        kind = scope["type"]
        if kind == "http":
            _requests_running += 1
        try:
            await app(scope, receive, send)
        finally:
            if kind == "http":
                _requests_running -= 1
                _requests_since_collection = True
            elif kind == "websocket":
                _sockets_closed += 1

    return watched


async def keep_pauses_short(
    tick: float = TICK,
    freeze_every: float = FREEZE_EVERY,
    reclaim_every: float = RECLAIM_EVERY,
    reclaim_after_closed: int = RECLAIM_AFTER_CLOSED,
) -> None:
    """Run for the life of the web server's event loop."""
    loop = asyncio.get_running_loop()
    reclaimed = frozen = loop.time()
    closed = _sockets_closed
    while True:
        await asyncio.sleep(tick)
        now = loop.time()
        if now - reclaimed >= reclaim_every or _sockets_closed - closed >= reclaim_after_closed:
            reclaim()
            reclaimed = frozen = now
            closed = _sockets_closed
        elif quiet():
            gc.freeze()
            frozen = now
        elif now - frozen >= freeze_every:
            freeze_survivors()
            frozen = now
