"""Business calendars: when a team works, and arithmetic in business time.

A :class:`BusinessCalendar` has a time zone, weekly working hours (several intervals a day:
the gaps are breaks, e.g. lunch) and day overrides (a holiday, or a working day on a weekend).
With ``china_holidays`` it also follows China's statutory holidays and their adjusted working
days (调休, e.g. a Saturday worked to bridge a long holiday) from the ``chinese-calendar``
package; the calendar's own overrides win over the package, and carry the years the package
does not know yet (see :data:`CHINA_KNOWN_UNTIL`).

:func:`add_business_minutes` and :func:`business_minutes_between` walk day by day over the
working intervals (interval arithmetic, never minute by minute). Both take a calendar or its
:class:`Schedule` (what the calendar says, loaded once and cached); ``None`` means 24/7.
"""

from __future__ import annotations

import logging
import threading
import time as _time
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import cache

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]

# The longest stretch searched for working time before a calendar is declared empty.
MAX_DAYS = 3 * 366


def _validate_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("Unknown time zone: %(zone)s"), params={"zone": value}) from exc


class BusinessCalendar(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[_validate_zone]
    )
    china_holidays = models.BooleanField(
        _("China's statutory holidays"),
        default=False,
        help_text=_(
            "Follow China's public holidays and adjusted working days (调休) as published by "
            "the State Council. Days below override them."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")

    def __str__(self) -> str:
        return self.name


class WorkingHours(models.Model):
    """One working interval of a weekday; several per day leave breaks between them."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"), help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        ordering = ["calendar", "weekday", "start"]
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        if _minutes(self.end, end=True) <= _minutes(self.start):
            raise ValidationError(_("The interval must end after it starts."))


class CalendarDay(models.Model):
    """A day that differs from the week: a holiday, or a working day (e.g. a worked Saturday)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Holiday (closed)")
        WORKDAY = "workday", _("Working day")

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="days")
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    hours_like = models.PositiveSmallIntegerField(
        _("hours like"),
        choices=WEEKDAYS,
        default=0,
        help_text=_("A working day keeps the hours of this weekday."),
    )

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_day_unique")
        ]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}".strip()


def _minutes(value: dtime, *, end: bool = False) -> int:
    minutes = value.hour * 60 + value.minute
    return 1440 if end and minutes == 0 else minutes


# --- China's statutory holidays ------------------------------------------------------------


@cache
def _china_tables() -> tuple[frozenset[date], frozenset[date], int]:
    from chinese_calendar.constants import holidays, workdays

    known_until = max(d.year for d in holidays)
    return frozenset(holidays), frozenset(workdays), known_until


def china_known_until() -> int:
    """The last year whose holidays the installed ``chinese-calendar`` knows."""
    return _china_tables()[2]


@cache
def _warn_unknown_year(year: int) -> None:
    logger.warning(
        "chinese-calendar knows China's holidays only until %d; %d follows the weekly hours "
        "and the calendar's own days (add them in the admin)",
        china_known_until(),
        year,
    )


def china_day(day: date) -> bool | None:
    """True: a statutory holiday; False: an adjusted working day (调休); None: an ordinary day
    (or one of a year the package does not know yet)."""
    holidays, workdays, known_until = _china_tables()
    if day.year > known_until:
        _warn_unknown_year(day.year)
        return None
    if day in holidays:
        return True
    if day in workdays:
        return False
    return None


# --- Schedules -----------------------------------------------------------------------------

Span = tuple[int, int]  # minutes of the local day, [start, end)


@dataclass(eq=False)
class Schedule:
    """What a calendar says, in memory: business-time arithmetic reads only this."""

    zone: zoneinfo.ZoneInfo
    weekly: tuple[tuple[Span, ...], ...]  # Monday … Sunday
    days: dict[date, tuple[Span, ...]] = field(default_factory=dict)
    china: bool = False
    _utc: dict[date, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict)

    def spans(self, day: date) -> tuple[Span, ...]:
        if day in self.days:
            return self.days[day]
        if self.china:
            official = china_day(day)
            if official is True:
                return ()
            if official is False:
                return self.weekly[0] or next((w for w in self.weekly if w), ())
        return self.weekly[day.weekday()]

    def intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working intervals of a local day, as UTC instants."""
        found = self._utc.get(day)
        if found is None:
            midnight = datetime(day.year, day.month, day.day)
            out = []
            for start, end in self.spans(day):
                a = (midnight + timedelta(minutes=start)).replace(tzinfo=self.zone)
                b = (midnight + timedelta(minutes=end)).replace(tzinfo=self.zone)
                a, b = a.astimezone(UTC), b.astimezone(UTC)
                if b > a:
                    out.append((a, b))
            found = self._utc[day] = tuple(out)
            if len(self._utc) > 4096:
                self._utc.clear()
        return found


ALWAYS = Schedule(zone=zoneinfo.ZoneInfo("UTC"), weekly=tuple(((0, 1440),) for _day in range(7)))


def _merge(spans: Sequence[Span]) -> tuple[Span, ...]:
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif end > start:
            out.append((start, end))
    return tuple(out)


def build_schedule(calendar: BusinessCalendar) -> Schedule:
    weekly: list[list[Span]] = [[] for _ in range(7)]
    for hours in calendar.hours.all():
        weekly[hours.weekday].append((_minutes(hours.start), _minutes(hours.end, end=True)))
    week = tuple(_merge(spans) for spans in weekly)
    days = {
        d.date: (() if d.kind == CalendarDay.Kind.HOLIDAY else week[d.hours_like])
        for d in calendar.days.all()
    }
    return Schedule(
        zone=zoneinfo.ZoneInfo(calendar.time_zone),
        weekly=week,
        days=days,
        china=calendar.china_holidays,
    )


_TTL = 60.0
_schedules: dict[int, tuple[float, Schedule]] = {}
_lock = threading.Lock()


def schedule_for(calendar: BusinessCalendar | Schedule | None) -> Schedule:
    """The calendar's schedule, cached for a minute per process (edits in this process clear
    it at once; other processes see them within the minute)."""
    if calendar is None:
        return ALWAYS
    if isinstance(calendar, Schedule):
        return calendar
    now = _time.monotonic()
    with _lock:
        cached = _schedules.get(calendar.pk)
    if cached is not None and now - cached[0] < _TTL:
        return cached[1]
    schedule = build_schedule(calendar)
    with _lock:
        _schedules[calendar.pk] = (now, schedule)
    return schedule


def clear_schedules(*args: object, **kwargs: object) -> None:
    with _lock:
        _schedules.clear()


for _model in (BusinessCalendar, WorkingHours, CalendarDay):
    post_save.connect(clear_schedules, sender=_model, dispatch_uid=f"sla-clear-{_model.__name__}")
    post_delete.connect(
        clear_schedules, sender=_model, dispatch_uid=f"sla-clear-del-{_model.__name__}"
    )


# --- Arithmetic ----------------------------------------------------------------------------


def _local_date(schedule: Schedule, t: datetime) -> date:
    return t.astimezone(schedule.zone).date()


def add_business_minutes(
    calendar: BusinessCalendar | Schedule | None, t: datetime, minutes: float
) -> datetime:
    """The instant at which ``minutes`` of business time have passed since ``t``.

    Zero minutes is ``t`` itself; otherwise the answer always lies inside or at the end of a
    working interval. Raises ``ValueError`` for negative minutes or a calendar without any
    working time in the next three years.
    """
    if minutes < 0:
        raise ValueError("business minutes cannot be negative")
    if t.tzinfo is None:
        raise ValueError("a naive datetime has no place in business time")
    if minutes == 0:
        return t
    schedule = schedule_for(calendar)
    remaining = timedelta(minutes=minutes)
    t = t.astimezone(UTC)
    day = _local_date(schedule, t)
    for _day in range(MAX_DAYS):
        for start, end in schedule.intervals(day):
            if end <= t:
                continue
            start = max(start, t)
            span = end - start
            if remaining <= span:
                return start + remaining
            remaining -= span
        day += timedelta(days=1)
    raise ValueError("the calendar has no working time in the next three years")


def business_minutes_between(
    calendar: BusinessCalendar | Schedule | None, a: datetime, b: datetime
) -> float:
    """Business minutes from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    if a.tzinfo is None or b.tzinfo is None:
        raise ValueError("a naive datetime has no place in business time")
    if b < a:
        return -business_minutes_between(calendar, b, a)
    schedule = schedule_for(calendar)
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    total = timedelta()
    day, last = _local_date(schedule, a), _local_date(schedule, b)
    while day <= last:
        for start, end in schedule.intervals(day):
            lo, hi = max(start, a), min(end, b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total / timedelta(minutes=1)
