"""Periodic jobs of the conversations app."""

from __future__ import annotations

from django_tasks import task

from kefu.core.scheduler import every


@every(3600, name="close-solved")
@task()
def close_solved() -> int:
    from kefu.conversations.closing import close_stale_solved

    return close_stale_solved()
