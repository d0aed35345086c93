"""A test listener that records every event dispatched, removed again after the test.

Import the ``events`` fixture into a folder's conftest to use it there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kefu.core import events as core_events


class EventLog:
    def __init__(self) -> None:
        self.received: list[core_events.Event] = []

    def __call__(self, event: core_events.Event) -> None:
        self.received.append(event)

    def of(self, event_type: type[Any]) -> list[Any]:
        return [e for e in self.received if isinstance(e, event_type)]

    def names(self) -> list[str]:
        return [type(e).__name__ for e in self.received]

    def clear(self) -> None:
        self.received.clear()


def unlisten(fn: Any, *event_types: type[core_events.Event]) -> None:
    for event_type in event_types:
        listeners = core_events._listeners.get(event_type, [])
        if fn in listeners:
            listeners.remove(fn)


@pytest.fixture
def events() -> Iterator[EventLog]:
    log = EventLog()
    core_events.listen(core_events.Event)(log)
    try:
        yield log
    finally:
        unlisten(log, core_events.Event)
