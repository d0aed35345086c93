"""Housekeeping that every installation needs, run by the scheduler."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.sessions.models import Session
from django.utils import timezone
from django_tasks import task

from kefu.core.scheduler import every


@every(3600, name="clear-expired-sessions")
@task()
def clear_expired_sessions() -> int:
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@every(3600, name="prune-task-results")
@task()
def prune_task_results(days: int = 7) -> int:
    """Finished background task results are kept a week for inspection, then dropped."""
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = DBTaskResult.objects.filter(
        status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=cutoff
    ).delete()
    return deleted


@every(6 * 3600, name="sqlite-optimize")
@task()
def optimize_sqlite() -> bool:
    """SQLite plans with the indexes only once it has statistics: refresh them now and then."""
    from django.db import connection

    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA optimize")
    return True
