"""The standard reports' closed months, warmed before a manager asks (``closed.warm``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kefu.analytics import closed
from kefu.analytics.filters import Filters
from kefu.analytics.metrics import report
from kefu.analytics.models import AgentDailyRollup, DailyRollup
from tests.analytics.test_metrics import fixture  # noqa: F401  (March 2026: closed)

pytestmark = pytest.mark.django_db


def year(team=None) -> Filters:
    today = timezone.localdate()
    start = today - timedelta(days=364)
    return Filters(start=start, end=today, period="365d", grain="week", team=team)


def figures(f: Filters) -> tuple[int, dict, dict, dict]:
    with CaptureQueriesContext(connection) as captured:
        rep = report(f)
    return len(captured), rep.figures, rep.series, rep.breakdowns


@pytest.mark.parametrize("by_team", [False, True])
def test_after_warm_a_standard_report_reads_no_closed_month(fixture, team_x, by_team):  # noqa: F811
    f = year(team_x.pk if by_team else None)
    assert f in closed.standard_filters()
    cache.clear()
    cold_queries, *cold = figures(f)
    assert cold[0]["resolved"] == 2  # March 2026's two

    cache.clear()
    assert closed.warm() == len(closed.standard_filters())
    # behind the cache's back: a report that read a closed month would see these
    this_month = timezone.localdate().replace(day=1)
    DailyRollup.objects.filter(day__lt=this_month).update(resolved=99, created=99)
    AgentDailyRollup.objects.filter(day__lt=this_month).update(resolved=99, created=99)
    warm_queries, *warm = figures(f)
    assert warm == cold
    assert warm_queries < cold_queries


def test_late_events_enqueue_one_warm_a_minute_later(db):
    from django_tasks_db.models import DBTaskResult

    backend = {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    last_year = timezone.localdate().replace(day=1) - timedelta(days=300)
    cache.delete(closed.WARM_PENDING)
    with override_settings(TASKS={"default": backend}):
        closed._renew([timezone.localdate().replace(day=1)])  # this month: no warm
        assert not DBTaskResult.objects.exists()
        closed._renew([last_year.replace(day=1)])
        closed._renew([last_year.replace(day=1)])  # the same burst: still one
        (task,) = DBTaskResult.objects.all()
        assert task.task_path.endswith("warm_closed")
        assert task.run_after > timezone.now() + timedelta(seconds=30)
        closed.warm()  # it starts: a change from now on schedules another
        closed._renew([last_year.replace(day=1)])
        assert DBTaskResult.objects.count() == 2
    cache.delete(closed.WARM_PENDING)


def test_the_periodic_warm_runs_once_per_day(db):
    cache.clear()
    assert closed.warm_if_due()
    assert not closed.warm_if_due()
