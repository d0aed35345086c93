"""Garbage collection that does not stop every socket of a web process at once.

CPython's full collection walks every object the process holds, and nothing else runs while it
does. A web process with a thousand chat sockets holds a million objects or so: the full
collection that Python starts on its own, whenever the long-lived objects have grown by a
quarter, stopped every socket for 130–150 ms, in the middle of conversations (the chat
benchmark's worst delays were all one such pause).

So the web server keeps what has lived a while out of the collector's sight
(``gc.freeze``): everything loaded at start-up, then, every :data:`FREEZE_EVERY` seconds,
what survived a young collection since. Python's own collections then walk only recent
objects and stay short. A frozen object that dies by reference counting is freed as usual;
only a frozen cycle of garbage (a closed socket's tasks, say) waits for the reclaim: every
:data:`RECLAIM_EVERY` seconds everything is unfrozen and collected in one full collection,
the one long pause, and frozen again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

logger = logging.getLogger(__name__)

FREEZE_EVERY = 10.0  # seconds
RECLAIM_EVERY = 1800.0  # seconds


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
        "full garbage collection: %d unreachable objects, %.0f ms",
        found,
        1000 * (time.perf_counter() - started),
    )
    return found


async def keep_pauses_short(
    freeze_every: float = FREEZE_EVERY, reclaim_every: float = RECLAIM_EVERY
) -> None:
    """Run for the life of the web server's event loop."""
    loop = asyncio.get_running_loop()
    reclaimed = loop.time()
    while True:
        await asyncio.sleep(freeze_every)
        if loop.time() - reclaimed >= reclaim_every:
            reclaim()
            reclaimed = loop.time()
        else:
            freeze_survivors()
