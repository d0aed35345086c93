"""Customer value: totals from orders, RFM segments, the Pareto curve, churn risk with reasons,
and what became of customers after a complaint. Recomputed by a periodic job into
:class:`CustomerValue` and :class:`Snapshot`, so the dashboard reads a few rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kefu.analytics.models import ConversationFact, CustomerValue, Order, Snapshot
from kefu.conversations.models import OPEN_STATUSES, Kind
from kefu.customers.models import Customer

SEGMENTS = {
    "champion": _("Champions"),
    "loyal": _("Loyal"),
    "new": _("New"),
    "at_risk": _("At risk"),
    "lost": _("Lost"),
    "occasional": _("Occasional"),
    "prospect": _("No orders"),
}
REASONS = {
    "open_complaint": _("Unresolved complaint"),
    "low_rating": _("Low rating in the last 90 days"),
    "rising_contacts": _("Contacting us more often"),
    "silence": _("Long silence"),
    "slow_complaint": _("Complaint resolved slowly"),
}
WEIGHTS = {
    "open_complaint": 3.0,
    "low_rating": 2.0,
    "rising_contacts": 1.5,
    "silence": 1.0,
    "slow_complaint": 1.0,
}
FAST_COMPLAINT_MINUTES = 24 * 60  # a complaint resolved within a (business) day is "fast"
SILENCE_DAYS = 120


def _segment(orders: int, value: Decimal, last: datetime | None, now: datetime) -> str:
    if not orders or last is None:
        return "prospect"
    days = (now - last).days
    if days > 365:
        return "lost"
    if days > 180:
        return "at_risk"
    if orders >= 5 and days <= 90:
        return "champion"
    if orders >= 3:
        return "loyal"
    if orders == 1 and days <= 60:
        return "new"
    return "occasional"


def customer_rows(now: datetime) -> dict[int, dict[str, Any]]:
    since90, since30 = now - timedelta(days=90), now - timedelta(days=30)
    rows: dict[int, dict[str, Any]] = defaultdict(
        lambda: {
            "orders": 0,
            "value": Decimal(0),
            "last_order_at": None,
            "contacts": 0,
            "contacts_90d": 0,
            "contacts_30d": 0,
            "last_contact_at": None,
            "open_complaints": 0,
            "low_ratings": 0,
            "slow_complaints": 0,
        }
    )
    for cid, n, total, last in Order.objects.values_list("customer_id").annotate(
        Count("id"), Sum("amount"), Max("ordered_at")
    ):
        rows[cid] |= {"orders": n, "value": total or Decimal(0), "last_order_at": last}
    facts = ConversationFact.objects.order_by()
    for cid, n, last in facts.values_list("customer_id").annotate(Count("pk"), Max("created_at")):
        rows[cid] |= {"contacts": n, "last_contact_at": last}
    for cid, n in (
        facts.filter(created_at__gte=since90).values_list("customer_id").annotate(Count("pk"))
    ):
        rows[cid]["contacts_90d"] = n
    for cid, n in (
        facts.filter(created_at__gte=since30).values_list("customer_id").annotate(Count("pk"))
    ):
        rows[cid]["contacts_30d"] = n
    for cid, n in (
        facts.filter(kind=Kind.COMPLAINT, status__in=OPEN_STATUSES)
        .values_list("customer_id")
        .annotate(Count("pk"))
    ):
        rows[cid]["open_complaints"] = n
    for cid, n in (
        facts.filter(created_at__gte=since90, satisfaction__lte=2)
        .values_list("customer_id")
        .annotate(Count("pk"))
    ):
        rows[cid]["low_ratings"] = n
    for cid, n in (
        facts.filter(
            kind=Kind.COMPLAINT,
            created_at__gte=since90,
            resolution_minutes__gt=FAST_COMPLAINT_MINUTES,
        )
        .values_list("customer_id")
        .annotate(Count("pk"))
    ):
        rows[cid]["slow_complaints"] = n
    return rows


def churn(row: dict[str, Any], now: datetime) -> tuple[float, list[str]]:
    """Value × the weight of recent negative signals, and the signals as reasons."""
    reasons = []
    if row["open_complaints"]:
        reasons.append("open_complaint")
    if row["low_ratings"]:
        reasons.append("low_rating")
    if row["slow_complaints"]:
        reasons.append("slow_complaint")
    earlier_monthly = (row["contacts_90d"] - row["contacts_30d"]) / 2
    if row["contacts_30d"] >= 3 and row["contacts_30d"] > 2 * earlier_monthly:
        reasons.append("rising_contacts")
    last = max(
        (t for t in (row["last_order_at"], row["last_contact_at"]) if t is not None), default=None
    )
    if row["orders"] >= 2 and last is not None and (now - last).days > SILENCE_DAYS:
        reasons.append("silence")
    if not reasons:
        return 0.0, []
    weight = sum(WEIGHTS[r] for r in reasons)
    return round(float(row["value"] or 0) * weight + weight, 2), reasons


def refresh_values(now: datetime | None = None) -> int:
    now = now or timezone.now()
    rows = customer_rows(now)
    teams = dict(Customer.objects.filter(pk__in=list(rows)).values_list("pk", "team_id"))
    objs = []
    for cid, row in rows.items():
        if cid not in teams:
            continue
        score, reasons = churn(row, now)
        objs.append(
            CustomerValue(
                customer_id=cid,
                orders=row["orders"],
                value=row["value"],
                last_order_at=row["last_order_at"],
                contacts=row["contacts"],
                contacts_90d=row["contacts_90d"],
                last_contact_at=row["last_contact_at"],
                segment=_segment(row["orders"], row["value"], row["last_order_at"], now),
                churn_score=score,
                reasons=reasons,
                team_id=teams[cid],
            )
        )
    with transaction.atomic():
        CustomerValue.objects.all().delete()
        CustomerValue.objects.bulk_create(objs, batch_size=2000)
        Snapshot.objects.update_or_create(key="pareto", defaults={"data": pareto(objs)})
        Snapshot.objects.update_or_create(
            key="complaint_retention", defaults={"data": complaint_retention()}
        )
        # the dashboard's segment counts: counting 200,000 values on every view took 80 ms
        counts: dict[str, int] = {}
        for v in objs:
            counts[v.segment] = counts.get(v.segment, 0) + 1
        Snapshot.objects.update_or_create(key="segments", defaults={"data": counts})
    return len(objs)


def pareto(values: list[CustomerValue], points: int = 20) -> dict[str, Any]:
    """Cumulative share of value by share of customers (best first), with the share of
    customers that makes 80 % of the value, and contact volume along the same order."""
    ranked = sorted((v for v in values if v.value > 0), key=lambda v: -v.value)
    total = sum((v.value for v in ranked), Decimal(0))
    contacts = sum(v.contacts for v in ranked) or 1
    n = len(ranked)
    if not n or not total:
        return {"customers": 0, "value": 0, "x": [], "value_share": [], "contact_share": []}
    xs, value_share, contact_share = [], [], []
    run_value, run_contacts, top80 = Decimal(0), 0, None
    step = max(1, n // points)
    for i, v in enumerate(ranked, start=1):
        run_value += v.value
        run_contacts += v.contacts
        if top80 is None and run_value >= total * Decimal("0.8"):
            top80 = round(100 * i / n, 1)
        if i % step == 0 or i == n:
            xs.append(round(100 * i / n, 1))
            value_share.append(round(float(100 * run_value / total), 1))
            contact_share.append(round(100 * run_contacts / contacts, 1))
    top = [
        {"customer_id": v.customer_id, "value": float(v.value), "contacts": v.contacts}
        for v in ranked[:10]
    ]
    return {
        "customers": n,
        "value": float(total),
        "top80": top80,
        "x": xs,
        "value_share": value_share,
        "contact_share": contact_share,
        "top": top,
    }


def complaint_retention(days: int = 90) -> dict[str, Any]:
    """Of the customers whose complaint was resolved more than ``days`` ago, how many came
    back within ``days`` (contacted again / ordered again), split by fast and slow. Three
    queries: the complaints, then those customers' conversations and orders."""
    now = timezone.now()
    zone = timezone.get_default_timezone()
    cutoff = (now - timedelta(days=days)).date()
    complaints = list(
        ConversationFact.objects.filter(
            kind=Kind.COMPLAINT, resolved_day__isnull=False, resolved_day__lt=cutoff
        ).values_list("conversation_id", "customer_id", "resolved_day", "resolution_minutes")
    )
    customers = {c[1] for c in complaints}
    contacts: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    orders: dict[int, list[datetime]] = defaultdict(list)
    if customers:
        for pk, cid, created in ConversationFact.objects.filter(
            customer_id__in=customers
        ).values_list("conversation_id", "customer_id", "created_at"):
            contacts[cid].append((pk, created))
        for cid, at in Order.objects.filter(customer_id__in=customers).values_list(
            "customer_id", "ordered_at"
        ):
            orders[cid].append(at)
    out: dict[str, dict[str, int]] = {
        speed: {"complaints": 0, "contacted": 0, "ordered": 0, "returned": 0}
        for speed in ("fast", "slow")
    }
    for pk, customer_id, resolved_day, minutes in complaints:
        if resolved_day is None:
            continue
        start = datetime.combine(resolved_day, time.max, tzinfo=zone)
        end = start + timedelta(days=days)
        speed = "fast" if (minutes or 0) <= FAST_COMPLAINT_MINUTES else "slow"
        contacted = any(o != pk and start <= at <= end for o, at in contacts[customer_id])
        ordered = any(start <= at <= end for at in orders[customer_id])
        bucket = out[speed]
        bucket["complaints"] += 1
        bucket["contacted"] += int(contacted)
        bucket["ordered"] += int(ordered)
        bucket["returned"] += int(contacted or ordered)
    return out
