"""Telling the agents watching a campaign that its counters changed.

Senders call :func:`changed` after each batch; at most one message a second per campaign
and process goes out (``force`` for the ones that must not be dropped: started, paused,
done), and each watching socket renders the counters itself (one query). The page also
refreshes itself every 30 seconds, so a dropped message only delays a figure.
"""

from __future__ import annotations

import threading
import time

from django.db import transaction

from kefu.core import realtime

EVERY = 1.0  # seconds between two messages for the same campaign from one process
_last: dict[int, float] = {}
_lock = threading.Lock()


def group(campaign_id: int) -> str:
    return f"care.campaign.{campaign_id}"


def changed(campaign_id: int | None, *, force: bool = False) -> None:
    """Publish (after the current transaction commits) that ``campaign_id`` changed."""
    if not campaign_id:
        return
    now = time.monotonic()
    with _lock:
        if not force and now - _last.get(campaign_id, 0.0) < EVERY:
            return
        _last[campaign_id] = now
    transaction.on_commit(
        lambda: realtime.publish([group(campaign_id)], {"type": "care.progress"}), robust=True
    )
