"""Dashboards, drill-down, exports and live tiles: parse the request, read the rollups, render."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from kefu.analytics import exports
from kefu.analytics.drill import drill
from kefu.analytics.filters import PERIODS, Filters
from kefu.analytics.live import agents_load, sla_at_risk, tiles
from kefu.analytics.metrics import report
from kefu.analytics.models import CustomerValue, Snapshot
from kefu.analytics.terms import trending
from kefu.analytics.value import REASONS, SEGMENTS
from kefu.conversations.models import OPEN_STATUSES, Channel, Conversation, Kind
from kefu.core.models import Tag
from kefu.customers.models import Customer, Tier
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required
from kefu.staff.models import AgentProfile, Team

AUDIENCES = ("manager", "supervisor", "agent")
MAX_TAGS = 1000  # tags offered in the filter (products are tags)
PARETO_SERIES = ("x", "value_share", "contact_share")
SERIES = ("labels", "created", "resolved", "backlog", "frt_median", "csat")


def names(f: Filters) -> dict[str, dict[Any, Any]]:
    teams = Team.objects.all()
    if f.allowed_teams is not None:
        teams = teams.filter(pk__in=sorted(f.allowed_teams))
    agents = {
        p.user_id: p.name
        for p in AgentProfile.objects.select_related("user").only(
            "user_id", "display_name", "user__username", "user__first_name", "user__last_name"
        )
    }
    return {
        "team_id": dict(teams.values_list("pk", "name")),
        "agent_id": agents,
        "tag_id": dict(Tag.objects.order_by("name").values_list("pk", "name")[:MAX_TAGS]),
        "channel": dict(Channel.choices),
        "kind": dict(Kind.choices),
        "tier": dict(Tier.choices),
    }


def charts_available() -> bool:
    """The chart library is fetched by ``make install`` (npm); without it pages show tables."""
    from django.contrib.staticfiles import finders

    return bool(finders.find("analytics/vendor/echarts.min.js"))


def _audience(request: HttpRequest) -> str:
    profile = agent_profile(request.user)
    default = "manager" if profile and profile.sees_all_teams else "agent"
    asked = request.GET.get("audience", default)
    return asked if asked in AUDIENCES else default


def _churn(f: Filters, limit: int = 15) -> list[dict[str, Any]]:
    qs = CustomerValue.objects.filter(churn_score__gt=0)
    if f.allowed_teams is not None:
        qs = qs.filter(team_id__in=sorted(f.allowed_teams))
    rows = list(qs.order_by("-churn_score")[:limit])
    customers = Customer.objects.in_bulk([r.customer_id for r in rows])
    return [
        {
            "customer": customers.get(r.customer_id),
            "value": r.value,
            "orders": r.orders,
            "contacts_90d": r.contacts_90d,
            "segment": SEGMENTS.get(r.segment, r.segment),
            "score": r.churn_score,
            "reasons": [REASONS.get(x, x) for x in r.reasons],
        }
        for r in rows
    ]


def _snapshots() -> dict[str, Any]:
    keys = ("pareto", "complaint_retention", "segments")
    return dict(Snapshot.objects.filter(key__in=keys).values_list("key", "data"))


def _pareto(f: Filters, snap: dict[str, Any] | None) -> dict[str, Any]:
    data = dict(snap or {})
    top = data.get("top") or []
    customers = Customer.objects.in_bulk([t["customer_id"] for t in top])
    data["top"] = [t | {"customer": customers.get(t["customer_id"])} for t in top]
    return data


def _segments(counts: dict[str, int] | None) -> list[tuple[str, int]]:
    """Customers per segment, as the value job counted them (counted here before it ran)."""
    from django.db.models import Count

    if counts is None:
        qs = CustomerValue.objects.values_list("segment").annotate(n=Count("pk")).order_by()
        counts = dict(qs)
    return [(str(label), counts.get(key, 0)) for key, label in SEGMENTS.items()]


def _series_rows(series: dict[str, list[Any]], drill_url: str, f: Filters) -> str:
    """The series as table rows, built here: a year by day is 365 rows of six cells, and the
    template engine (and even ``format_html`` per cell) took longer over them than the
    figures did. Labels are ISO dates and cells numbers; the link's parts are escaped once."""
    href = escape(f"{drill_url}?{f.query_string()}&metric=created&bucket=")
    out = []
    for label, *values in zip(*(series[k] for k in SERIES), strict=True):
        cells = "".join(f'<td class="num">{"—" if v is None else escape(v)}</td>' for v in values)
        day = escape(label)
        out.append(f'<tr><td><a href="{href}{day}">{day}</a></td>{cells}</tr>')
    return mark_safe("".join(out))  # noqa: S308 - every part escaped above


@require_GET
@agent_required
def dashboard(request: HttpRequest) -> HttpResponse:
    audience = _audience(request)
    profile = agent_profile(request.user)
    assert profile is not None
    f = Filters.from_params(request.GET, request.user)
    if audience == "agent":
        f = Filters(**{**f.__dict__, "agent": request.user.pk})
    label_names = names(f)
    rep = report(f, label_names)
    context: dict[str, Any] = {
        "audience": audience,
        "f": f,
        "qs": f.query_string(),
        "report": rep,
        "fig": rep.figures,
        "periods": [*PERIODS, "custom"],
        "teams": label_names["team_id"].items(),
        "channels": Channel.choices,
        "tiers": Tier.choices,
        "kinds": Kind.choices,
        "tags": label_names["tag_id"].items(),
        "drill_url": reverse("analytics:conversations"),
        "export_url": reverse("analytics:export"),
        "series_rows": _series_rows(rep.series, reverse("analytics:conversations"), f),
        "chat_agents": [
            a | {"name": label_names["agent_id"].get(a["agent_id"], a["agent_id"])}
            for a in rep.chat_load["agents"]
        ],
        "chat_series": [
            (label, mean, peak)
            for label, mean, peak in zip(
                rep.series["labels"],
                rep.chat_load["series_mean"],
                rep.chat_load["series_peak"],
                strict=True,
            )
            if peak is not None
        ],
        "charts_available": charts_available(),
        "chart_data": {
            "series": rep.series,
            "drill": reverse("analytics:conversations") + "?" + f.query_string(),
        },
    }
    if audience == "manager":
        week = timezone.localdate()
        context["terms"] = trending(week)
        context["churn"] = _churn(f)
        snapshots = _snapshots()
        context["pareto"] = _pareto(f, snapshots.get("pareto"))
        context["segments"] = _segments(snapshots.get("segments"))
        context["retention"] = snapshots.get("complaint_retention") or {}
        complaints = [b for b in rep.breakdowns["kind"] if b["value"] == Kind.COMPLAINT]
        context["complaints"] = complaints[0] if complaints else None
        context["chart_data"] |= {
            "pareto": {
                k: context["pareto"].get(k, []) for k in ("x", "value_share", "contact_share")
            },
            "channels": [[str(b["label"]), b["created"]] for b in rep.breakdowns["channel"]],
        }
    if audience == "supervisor":
        context["tiles"] = tiles(f.allowed_teams)
        context["agents"] = agents_load(f.allowed_teams)
        context["at_risk"] = sla_at_risk(f.allowed_teams)
    if audience == "agent":
        context["my_open"] = Conversation.objects.filter(
            assignee_id=request.user.pk, status__in=OPEN_STATUSES
        ).count()
        context["tiles"] = tiles(f.allowed_teams)
    return render(request, "analytics/dashboard.html", context)


@require_GET
@agent_required
def conversations(request: HttpRequest) -> HttpResponse:
    qs, asked = drill(request.GET, request.user)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "analytics/conversations.html",
        {"page": page, "asked": asked, "params": params.urlencode()},
    )


@require_GET
@agent_required
def export(request: HttpRequest) -> HttpResponse:
    f = Filters.from_params(request.GET, request.user)
    what = request.GET.get("report", "summary")
    fmt = request.GET.get("format", "csv")
    return exports.respond(f, names(f), what, fmt)


@require_GET
@agent_required
def live_tiles(request: HttpRequest) -> HttpResponse:
    f = Filters.from_params(request.GET, request.user)
    return render(request, "analytics/_tiles.html", {"tiles": tiles(f.allowed_teams)})
