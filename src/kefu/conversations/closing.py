"""Solved conversations close after ``KEFU_REOPEN_DAYS``: until then a customer's reply
reopens them (``actions.receive_message``), afterwards it opens a follow-up (every channel
treats a closed conversation as final)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Status
from kefu.core.errors import ActionError


def close_stale_solved(*, now: datetime | None = None, batch: int = 500) -> int:
    """Close up to ``batch`` conversations solved more than ``KEFU_REOPEN_DAYS`` ago, each
    through ``set_status`` (timeline line and event); returns how many closed."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KEFU_REOPEN_DAYS)
    stale = Conversation.objects.filter(status=Status.SOLVED, solved_at__lt=cutoff).order_by(
        "solved_at", "pk"
    )[:batch]
    closed = 0
    for conversation in stale:
        try:
            actions.set_status(conversation, actor=None, status=Status.CLOSED)
        except ActionError:
            continue  # changed meanwhile (e.g. the customer just replied)
        closed += 1
    return closed
