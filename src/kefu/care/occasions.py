"""Greetings on occasions from customer data, sent at a local time of day.

Someone born on 29 February is greeted on 28 February in years without one. The occasion is
found in the customer's own time zone, so a customer in Los Angeles is greeted on their
birthday, not on Shanghai's. One greeting per occasion, customer and year (the row's key).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from kefu.care.consent import consent_q, emails_of
from kefu.care.models import Delivery, Occasion, Purpose
from kefu.care.rendering import customer_zone
from kefu.customers.models import Customer


def anniversary(day: date, year: int) -> date:
    """``day``'s month and day in ``year`` (29 February → 28 February when not a leap year)."""
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, day.month, day.day)


def occasion_date(kind: str, customer: Customer, year: int) -> date | None:
    if kind == Occasion.Kind.BIRTHDAY:
        return anniversary(customer.birthday, year) if customer.birthday else None
    if kind == Occasion.Kind.CUSTOMER_SINCE and customer.created_at:
        since = customer.created_at.astimezone(customer_zone(customer)).date()
        return anniversary(since, year) if year > since.year else None
    return None


def is_due(occasion: Occasion, customer: Customer, now: datetime) -> bool:
    """True when it is the occasion's day where the customer lives, at or after the hour."""
    local = now.astimezone(customer_zone(customer))
    return (
        occasion_date(occasion.kind, customer, local.year) == local.date()
        and local.hour >= occasion.send_hour
    )


def _candidate_days(now: datetime) -> set[tuple[int, int]]:
    """(month, day) pairs that are "today" somewhere on earth now (UTC−12 … UTC+14), with
    29 February for the 28th of a common year."""
    days = set()
    for offset in (-1, 0, 1):
        d = (now.astimezone(UTC) + timedelta(days=offset)).date()
        days.add((d.month, d.day))
        if d.month == 2 and d.day == 28 and not calendar.isleap(d.year):
            days.add((2, 29))
    return days


def candidates(occasion: Occasion, now: datetime) -> list[Customer]:
    days = _candidate_days(now)
    field = "birthday" if occasion.kind == Occasion.Kind.BIRTHDAY else "created_at"
    match = Q()
    for month, day in days:
        match |= Q(**{f"{field}__month": month, f"{field}__day": day})
    return list(
        Customer.objects.filter(match, merged_into__isnull=True)
        .filter(consent_q(Purpose.MARKETING))
        .order_by("id")
    )


def queue_greetings(now: datetime | None = None) -> int:
    """Write the greetings due now (idempotent); the sender sends them."""
    now = now or timezone.now()
    written = 0
    for occasion in Occasion.objects.filter(active=True).select_related("template"):
        due = [c for c in candidates(occasion, now) if is_due(occasion, c, now)]
        addresses = emails_of(due)
        rows = []
        for customer in due:
            if not addresses.get(customer.pk):
                continue
            year = now.astimezone(customer_zone(customer)).year
            rows.append(
                Delivery(
                    key=f"greeting:{occasion.kind}:{customer.pk}:{year}",
                    kind=Delivery.Kind.GREETING,
                    purpose=Purpose.MARKETING,
                    customer=customer,
                    template=occasion.template,
                    address=addresses[customer.pk],
                )
            )
        known = set(
            Delivery.objects.filter(key__in=[r.key for r in rows]).values_list("key", flat=True)
        )
        rows = [r for r in rows if r.key not in known]
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)  # a racing job: still one
        written += len(rows)
    return written
