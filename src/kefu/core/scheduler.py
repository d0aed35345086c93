"""Periodic jobs: one scheduler loop enqueues them as background tasks.

Apps register jobs with :func:`every`. Several scheduler processes may run (one per worker);
a cache lock per time slot makes sure each slot fires once when the cache is shared (Redis).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import close_old_connections

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    seconds: int
    enqueue: Callable[[], Any]


_jobs: dict[str, Job] = {}
_watchers: dict[str, Callable[[threading.Event], None]] = {}


def every(seconds: int, name: str) -> Callable[[Any], Any]:
    """Register a task (a ``django_tasks`` Task) to be enqueued every ``seconds``."""

    def register(task: Any) -> Any:
        _jobs[name] = Job(name=name, seconds=seconds, enqueue=task.enqueue)
        return task

    return register


def watcher(name: str) -> Callable[[Any], Any]:
    """Register a long-running loop ``fn(stop: threading.Event)`` (e.g. IMAP IDLE) that the
    process running the scheduler keeps going in a thread of its own."""

    def register(fn: Callable[[threading.Event], None]) -> Callable[[threading.Event], None]:
        _watchers[name] = fn
        return fn

    return register


def watchers() -> dict[str, Callable[[threading.Event], None]]:
    return dict(_watchers)


def jobs() -> list[Job]:
    return sorted(_jobs.values(), key=lambda job: job.name)


def tick(now: float | None = None) -> list[str]:
    """Enqueue every job whose slot has come and that no other scheduler has claimed."""
    now = time.time() if now is None else now
    fired = []
    for job in jobs():
        slot = int(now // job.seconds)
        if cache.add(f"kefu:sched:{job.name}:{slot}", 1, timeout=job.seconds * 2):
            try:
                job.enqueue()
                fired.append(job.name)
            except Exception:
                logger.exception("could not enqueue periodic job %s", job.name)
    return fired


def run_forever(stop: threading.Event, interval: float = 5.0) -> None:
    logger.info("scheduler started with %d jobs", len(_jobs))
    while not stop.is_set():
        close_old_connections()
        tick()
        stop.wait(interval)
