from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kefu.service import policies
from kefu.service.calendars import BusinessCalendar, WorkingHours, clear_schedules

SHANGHAI = ZoneInfo("Asia/Shanghai")


def bj(*args: int) -> datetime:
    """A Beijing time."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Policies and schedules are cached per process; a rolled-back test leaves no trace."""
    policies.clear()
    clear_schedules()
    yield
    policies.clear()
    clear_schedules()


@pytest.fixture
def china_calendar(db):
    calendar = BusinessCalendar.objects.create(
        name="China office", time_zone="Asia/Shanghai", china_holidays=True
    )
    for weekday in range(5):
        WorkingHours.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(12))
        WorkingHours.objects.create(
            calendar=calendar, weekday=weekday, start=time(13), end=time(18)
        )
    return calendar


class Clock:
    """``timezone.now()`` under the test's control (auto_now fields included)."""

    def __init__(self, monkeypatch, start: datetime) -> None:
        self.now = start
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def set(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, bj(2026, 9, 30, 16, 0))
