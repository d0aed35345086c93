"""Figures from the daily rollups (one query for the period; never messages)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Sum

from kefu.analytics.filters import Filters
from kefu.analytics.models import AgentDailyRollup, DailyRollup
from kefu.analytics.rollups import COUNTERS, HISTOGRAMS, merge, percentile

MAIN_DIMS = ("team_id", "channel", "kind", "tier")
COLUMNS = ("day", *MAIN_DIMS, *COUNTERS, *HISTOGRAMS)
AGENT_COLUMNS = ("day", "team_id", "agent_id", *COUNTERS, *HISTOGRAMS)


# What a breakdown row and a point of the series show: summing only these keeps the
# dashboard's one pass over the period's rollup rows short.
BREAKDOWN = (
    ("created", "resolved", "sla_first_total", "sla_first_met", "rated", "rated_good"),
    ("first_response_hist", "next_response_hist", "resolution_hist"),
)
SERIES = (("created", "resolved", "rated", "rated_good"), ("first_response_hist",))


@dataclass
class Totals:
    counts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    hists: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    fields: tuple[tuple[str, ...], tuple[str, ...]] = (COUNTERS, HISTOGRAMS)

    def add(self, row: dict[str, Any]) -> None:
        counters, hists = self.fields
        for name in counters:
            self.counts[name] += row[name] or 0
        for name in hists:
            if row[name]:
                merge(self.hists[name], row[name])

    def pct(self, part: str, whole: str) -> float | None:
        total = self.counts[whole]
        return round(100 * self.counts[part] / total, 1) if total else None

    def p(self, hist: str, q: float) -> float | None:
        value = percentile(self.hists[hist], q)
        return None if value is None else round(value, 1)

    def mean(self, total: str, count: str) -> float | None:
        n = self.counts[count]
        return round(self.counts[total] / n, 1) if n else None

    def figures(self) -> dict[str, Any]:
        c = self.counts
        return {
            "created": int(c["created"]),
            "resolved": int(c["resolved"]),
            "frt_median": self.p("first_response_hist", 50),
            "frt_p90": self.p("first_response_hist", 90),
            "frt_mean": self.mean("first_response_sum", "responded"),
            "nrt_median": self.p("next_response_hist", 50),
            "nrt_p90": self.p("next_response_hist", 90),
            "resolution_median": self.p("resolution_hist", 50),
            "resolution_p90": self.p("resolution_hist", 90),
            "resolution_mean": self.mean("resolution_sum", "resolved"),
            "sla_first": self.pct("sla_first_met", "sla_first_total"),
            "sla_resolution": self.pct("sla_resolution_met", "sla_resolution_total"),
            "reopen_rate": self.pct("reopened", "created"),
            "one_touch": self.pct("one_touch", "resolved"),
            "csat": self.pct("rated_good", "rated"),
            "rated": int(c["rated"]),
            "rating_mean": round(c["rating_sum"] / c["rated"], 2) if c["rated"] else None,
            "chats": int(c["chats"]),
            "chats_missed": int(c["chats_missed"]),
            "missed_rate": self.pct("chats_missed", "chats"),
            "chat_wait_median": self.p("chat_wait_hist", 50),
            "chat_wait_p90": self.p("chat_wait_hist", 90),
        }


def bucket_start(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _buckets(f: Filters) -> list[date]:
    out: list[date] = []
    day = f.start
    while day <= f.end:
        b = bucket_start(day, f.grain)
        if not out or out[-1] != b:
            out.append(b)
        day += timedelta(days=1)
    return out


@dataclass
class Report:
    filters: Filters
    totals: Totals
    series: dict[str, list[Any]]
    breakdowns: dict[str, list[dict[str, Any]]]
    backlog: int

    @property
    def figures(self) -> dict[str, Any]:
        return self.totals.figures() | {"backlog": self.backlog}


def report(f: Filters, names: dict[str, dict[Any, str]] | None = None) -> Report:
    """Totals, a time series per grain and breakdowns by dimension, for the filters.

    With an agent chosen ("my figures"), totals and series come from the agents' rollup
    (period, team and agent: channel, kind and tier do not apply there)."""
    by_agent = f.agent is not None
    totals = Totals()
    per_bucket: dict[date, Totals] = defaultdict(lambda: Totals(fields=SERIES))
    per_dim: dict[str, dict[Any, Totals]] = {
        d: defaultdict(lambda: Totals(fields=BREAKDOWN)) for d in (*MAIN_DIMS, "agent_id")
    }
    agent_rows = AgentDailyRollup.objects.filter(f.q("agent")).values(*AGENT_COLUMNS)
    for row in agent_rows.iterator(chunk_size=5000):
        per_dim["agent_id"][row["agent_id"]].add(row)
        if by_agent:
            totals.add(row)
            per_bucket[bucket_start(row["day"], f.grain)].add(row)
            per_dim["team_id"][row["team_id"]].add(row)
    if not by_agent:
        rows = DailyRollup.objects.filter(f.q("main")).values(*COLUMNS)
        for row in rows.iterator(chunk_size=5000):
            totals.add(row)
            per_bucket[bucket_start(row["day"], f.grain)].add(row)
            for dim in MAIN_DIMS:
                per_dim[dim][row[dim]].add(row)
    model = AgentDailyRollup if by_agent else DailyRollup
    before = model.objects.filter(
        f.scope_q(table="agent" if by_agent else "main"), day__lt=f.start
    ).aggregate(created=Sum("created"), resolved=Sum("resolved"))
    backlog = (before["created"] or 0) - (before["resolved"] or 0)
    labels, created, resolved, backlogs, frt, csat = [], [], [], [], [], []
    for b in _buckets(f):
        t = per_bucket.get(b, Totals())
        backlog += int(t.counts["created"] - t.counts["resolved"])
        labels.append(b.isoformat())
        created.append(int(t.counts["created"]))
        resolved.append(int(t.counts["resolved"]))
        backlogs.append(max(backlog, 0))
        frt.append(t.p("first_response_hist", 50))
        csat.append(t.pct("rated_good", "rated"))
    names = names or {}
    breakdowns = {}
    for dim, groups in per_dim.items():
        label_of = names.get(dim, {})
        items = []
        for value, t in groups.items():
            fig = t.figures()
            items.append(
                {
                    "value": value,
                    "label": label_of.get(value, "—" if value in (0, "") else str(value)),
                    **fig,
                }
            )
        items.sort(key=lambda i: -i["created"])
        breakdowns[dim.removesuffix("_id")] = items
    return Report(
        filters=f,
        totals=totals,
        series={
            "labels": labels,
            "created": created,
            "resolved": resolved,
            "backlog": backlogs,
            "frt_median": frt,
            "csat": csat,
        },
        breakdowns=breakdowns,
        backlog=max(backlog, 0),
    )
