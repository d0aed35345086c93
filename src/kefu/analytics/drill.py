"""Drill-down: the conversations behind a figure, as the asking agent may see them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict

from kefu.analytics.filters import Filters
from kefu.analytics.models import ConversationFact
from kefu.analytics.terms import _week_bounds, monday
from kefu.conversations.access import visible_conversations
from kefu.conversations.models import OPEN_STATUSES, Conversation, Kind

# metric → (which day the period applies to, extra condition on facts)
METRICS: dict[str, tuple[str, Q]] = {
    "created": ("created_day", Q()),
    "resolved": ("resolved_day", Q()),
    "open": ("created_day", Q(status__in=OPEN_STATUSES)),
    "unanswered": ("created_day", Q(first_response_minutes__isnull=True)),
    "sla_first_missed": ("created_day", Q(sla_first_met=False)),
    "sla_resolution_missed": ("resolved_day", Q(sla_resolution_met=False)),
    "reopened": ("created_day", Q(reopens__gt=0)),
    "one_touch": ("resolved_day", Q(replies=1, reopens=0)),
    "rated": ("resolved_day", Q(satisfaction__isnull=False)),
    "rated_low": ("resolved_day", Q(satisfaction__lte=2)),
    "complaints": ("created_day", Q(kind=Kind.COMPLAINT)),
    "chats_missed": ("created_day", Q(chat_missed=True)),
    "chats": ("created_day", Q(chat_wait_seconds__isnull=False) | Q(chat_missed=True)),
    "nps": ("", Q()),  # the conversations of the period's NPS detractors, whenever they were
}


def drill(params: QueryDict, user: Any) -> tuple[QuerySet[Conversation], dict[str, str]]:
    """The visible conversations behind ``params`` (filters + metric, bucket, customer or
    term and week) and a description of what was asked."""
    f = Filters.from_params(params, user)
    metric = params.get("metric", "created")
    if metric not in METRICS:
        metric = "created"
    day_field, extra = METRICS[metric]
    asked = {"metric": metric}
    start, end = f.start, f.end
    bucket = params.get("bucket", "")
    if bucket:
        try:
            b = date.fromisoformat(bucket)
        except ValueError:
            b = None
        if b is not None:
            width = {"day": 1, "week": 7}.get(f.grain)
            last = b + timedelta(days=width - 1) if width else _month_end(b)
            start, end = max(start, b), min(end, last)
            asked["bucket"] = bucket
    facts = ConversationFact.objects.filter(extra, f.scope_q())
    if day_field:
        facts = facts.filter(**{f"{day_field}__gte": start, f"{day_field}__lte": end})
    if metric == "nps":
        facts = ConversationFact.objects.filter(
            f.scope_q(), customer_id__in=_detractors(start, end)
        )
    customer = params.get("customer", "")
    if customer.isdigit():
        facts = ConversationFact.objects.filter(f.scope_q(), customer_id=int(customer))
        if metric != "created":
            facts = facts.filter(extra)
        asked["customer"] = customer
    qs = visible_conversations(user).filter(pk__in=facts.values("conversation_id"))
    if f.tag is not None:
        qs = qs.filter(tags=f.tag)
    term = params.get("term", "").strip()[:64]
    if term:
        try:
            week = monday(date.fromisoformat(params.get("week", "")))
        except ValueError:
            week = monday(f.end)
        lo, hi = _week_bounds(week)
        qs = (
            visible_conversations(user)
            .filter(created_at__gte=lo, created_at__lt=hi)
            .filter(
                Q(subject__icontains=term)
                | Q(messages__direction="in", messages__body_text__icontains=term)
            )
            .distinct()
        )
        if params.get("product"):
            qs = qs.filter(tags__name=params["product"])
        asked |= {"term": term, "week": week.isoformat()}
    qs = qs.select_related("customer", "team", "assignee", "assignee__agent_profile").order_by(
        "-created_at", "-id"
    )
    return qs, asked


def _detractors(start: date, end: date) -> QuerySet[Any]:
    """Customers who gave an NPS of 0–6 in the period."""
    from datetime import datetime, time

    from django.utils import timezone

    from kefu.analytics.metrics import DETRACTOR
    from kefu.care.models import Survey

    zone = timezone.get_default_timezone()
    return Survey.objects.filter(
        kind=Survey.Kind.NPS,
        score__lte=DETRACTOR,
        answered_at__gte=datetime.combine(start, time.min, tzinfo=zone),
        answered_at__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    ).values("customer_id")


def _month_end(day: date) -> date:
    nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)
