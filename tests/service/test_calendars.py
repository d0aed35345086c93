"""Business time: weekends, breaks, China's holidays and adjusted working days, overrides, and
the properties every calendar must keep."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.service.calendars import (
    ALWAYS,
    CalendarDay,
    Schedule,
    add_business_minutes,
    business_minutes_between,
    china_day,
    china_known_until,
    schedule_for,
)
from tests.service.conftest import SHANGHAI, bj

OFFICE = Schedule(
    zone=zoneinfo.ZoneInfo("Asia/Shanghai"),
    weekly=(((540, 720), (780, 1080)),) * 5 + ((), ()),
    china=True,
)


def test_the_package_knows_2025_and_2026():
    assert china_known_until() >= 2026
    assert china_day(date(2026, 10, 1)) is True  # National Day
    assert china_day(date(2026, 10, 10)) is False  # a Saturday worked (调休)
    assert china_day(date(2025, 1, 26)) is False  # Sunday before Spring Festival 2025
    assert china_day(date(2026, 3, 10)) is None


def test_lunch_break_is_skipped():
    assert add_business_minutes(OFFICE, bj(2026, 3, 10, 11, 30), 60) == bj(2026, 3, 10, 13, 30)


def test_weekend_is_skipped():
    friday = bj(2026, 3, 6, 17, 30)
    assert add_business_minutes(OFFICE, friday, 60) == bj(2026, 3, 9, 9, 30)
    assert business_minutes_between(OFFICE, friday, bj(2026, 3, 9, 9, 30)) == 60


def test_outside_hours_starts_at_the_next_opening():
    assert add_business_minutes(OFFICE, bj(2026, 3, 10, 7, 0), 30) == bj(2026, 3, 10, 9, 30)
    assert add_business_minutes(OFFICE, bj(2026, 3, 10, 7, 0), 0) == bj(2026, 3, 10, 7, 0)


def test_eve_of_national_day_runs_into_the_week_after():
    eve = bj(2026, 9, 30, 16, 0)
    # 16:00–18:00 on the eve, closed 1–7 October, 60 more minutes on Thursday the 8th.
    assert add_business_minutes(OFFICE, eve, 180) == bj(2026, 10, 8, 10, 0)
    assert business_minutes_between(OFFICE, eve, bj(2026, 10, 8, 10, 0)) == 180


def test_adjusted_working_saturday_counts():
    friday = bj(2026, 10, 9, 17, 30)
    assert add_business_minutes(OFFICE, friday, 60) == bj(2026, 10, 10, 9, 30)
    # An ordinary Saturday does not.
    assert add_business_minutes(OFFICE, bj(2026, 10, 16, 17, 30), 60) == bj(2026, 10, 19, 9, 30)


def test_round_the_clock_without_a_calendar():
    t = datetime(2026, 10, 1, 23, 0, tzinfo=UTC)
    assert add_business_minutes(None, t, 90) == t + timedelta(minutes=90)
    assert schedule_for(None) is ALWAYS


def test_negative_minutes_and_naive_times_are_refused():
    with pytest.raises(ValueError):
        add_business_minutes(OFFICE, bj(2026, 3, 10, 10), -1)
    with pytest.raises(ValueError):
        add_business_minutes(OFFICE, datetime(2026, 3, 10, 10), 1)


def test_a_calendar_without_hours_is_an_error():
    closed = Schedule(zone=SHANGHAI, weekly=((),) * 7)
    with pytest.raises(ValueError):
        add_business_minutes(closed, bj(2026, 3, 10, 10), 1)


def test_overrides_win_and_carry_years_the_package_does_not_know(china_calendar):
    CalendarDay.objects.create(
        calendar=china_calendar, date=date(2026, 3, 10), kind=CalendarDay.Kind.HOLIDAY, name="店庆"
    )
    CalendarDay.objects.create(
        calendar=china_calendar, date=date(2026, 10, 8), kind=CalendarDay.Kind.HOLIDAY
    )
    # 2027 is beyond the package: the worked Saturday comes from the calendar's own days.
    CalendarDay.objects.create(
        calendar=china_calendar, date=date(2027, 2, 20), kind=CalendarDay.Kind.WORKDAY
    )
    assert add_business_minutes(china_calendar, bj(2026, 3, 9, 17, 30), 60) == bj(
        2026, 3, 11, 9, 30
    )
    assert add_business_minutes(china_calendar, bj(2026, 9, 30, 17, 0), 120) == bj(
        2026, 10, 9, 10, 0
    )
    assert add_business_minutes(china_calendar, bj(2027, 2, 19, 17, 30), 60) == bj(
        2027, 2, 20, 9, 30
    )


def test_editing_a_calendar_clears_its_cached_schedule(china_calendar):
    before = add_business_minutes(china_calendar, bj(2026, 3, 9, 17, 30), 60)
    CalendarDay.objects.create(
        calendar=china_calendar, date=date(2026, 3, 10), kind=CalendarDay.Kind.HOLIDAY
    )
    assert add_business_minutes(china_calendar, bj(2026, 3, 9, 17, 30), 60) > before


# --- properties ----------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2024, 12, 20), max_value=datetime(2026, 12, 20)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=SHANGHAI)
)
spans = st.integers(min_value=0, max_value=30_000)
schedules = st.sampled_from([OFFICE, ALWAYS])


@settings(max_examples=200, deadline=None)
@given(schedules, instants, spans)
def test_adding_then_measuring_gives_the_minutes_back(schedule, t, minutes):
    later = add_business_minutes(schedule, t, minutes)
    assert later >= t
    assert business_minutes_between(schedule, t, later) == minutes


@settings(max_examples=200, deadline=None)
@given(schedules, instants, instants, spans)
def test_adding_is_monotonic_in_the_start(schedule, a, b, minutes):
    a, b = min(a, b), max(a, b)
    assert add_business_minutes(schedule, a, minutes) <= add_business_minutes(schedule, b, minutes)


@settings(max_examples=200, deadline=None)
@given(schedules, instants, spans, spans)
def test_adding_is_monotonic_and_additive_in_the_minutes(schedule, t, m1, m2):
    assert add_business_minutes(schedule, t, m1) <= add_business_minutes(schedule, t, m1 + m2)
    if m1 > 0:
        assert add_business_minutes(
            schedule, add_business_minutes(schedule, t, m1), m2
        ) == add_business_minutes(schedule, t, m1 + m2)


@settings(max_examples=200, deadline=None)
@given(schedules, instants, instants, instants)
def test_measuring_is_additive_and_bounded(schedule, a, b, c):
    a, b, c = sorted((a, b, c))
    ab, bc = business_minutes_between(schedule, a, b), business_minutes_between(schedule, b, c)
    assert ab + bc == pytest.approx(business_minutes_between(schedule, a, c))
    assert 0 <= ab <= (b - a).total_seconds() / 60
    assert business_minutes_between(schedule, b, a) == -ab
