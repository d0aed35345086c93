"""Figures from the rollups: a few queries whatever the period, each reading the coarsest rows
that cover it (months, weeks, the days at its edges) in the shape its filters need; never
messages, never a row per day of a long period."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from kefu.analytics import agents, chatload, closed
from kefu.analytics.filters import Filters
from kefu.analytics.models import ALL, AgentDailyRollup, DailyRollup
from kefu.analytics.rollups import COUNTERS, HISTOGRAMS, percentile, period_start

MAIN_DIMS = ("channel", "kind", "tier")


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
                add_counts(self.hists[name], row[name])

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
    return period_start(day, grain)


def _buckets(f: Filters) -> list[date]:
    out: list[date] = []
    day = f.start
    while day <= f.end:
        b = bucket_start(day, f.grain)
        if not out or out[-1] != b:
            out.append(b)
        day += timedelta(days=1)
    return out


def next_start(first: date, grain: str) -> date:
    """The first day of the period after the one starting on ``first``."""
    if grain == "month":
        return (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first + timedelta(days=7 if grain == "week" else 1)


Piece = tuple[str, date, date]  # (rollup grain, first day, last day)


def pieces(start: date, end: date, grain: str) -> list[Piece]:
    """The rollup rows covering ``start``..``end`` exactly once, each inside one ``grain``
    bucket: whole months (or weeks) as month (week) rows, the rest as week and day rows. With
    ``grain`` "month" these are the fewest rows that cover the period."""
    if grain == "day":
        return [("day", start, end)]
    out: list[Piece] = []
    lo = start
    while lo <= end:
        first = bucket_start(lo, grain)
        last = next_start(first, grain) - timedelta(days=1)
        hi = min(end, last)
        if lo == first and hi == last:
            out.append((grain, first, last))
        elif grain == "month":
            out += pieces(lo, hi, "week")
        else:
            out.append(("day", lo, hi))
        lo = hi + timedelta(days=1)
    return out


def period_q(parts: list[Piece]) -> Q:
    q = Q(pk__in=[])
    for grain in ("month", "week"):
        starts = [first for g, first, _last in parts if g == grain]
        if starts:
            q |= Q(grain=grain, day__in=starts)
    for g, first, last in parts:
        if g == "day":
            q |= Q(grain="day", day__gte=first, day__lte=last)
    return q


def before_q(day: date) -> Q:
    """Every row before ``day`` (months, then the days of ``day``'s month before it)."""
    month = day.replace(day=1)
    return Q(grain="month", day__lt=month) | Q(grain="day", day__gte=month, day__lt=day)


def add_counts(into: dict[str, int], other: dict[str, int]) -> None:
    """``merge`` for stored histograms, whose counts are all positive (no zero to drop): the
    dashboard's inner loop."""
    get = into.get
    for b, n in other.items():
        into[b] = get(b, 0) + n


def grouped(
    qs: QuerySet[Any], keys: tuple[str, ...], counters: tuple[str, ...], hists: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The rows of ``qs`` summed by ``keys``: counters with SUM in the database, histograms
    read once a row (raw, without the ORM's per-field conversion) and merged here.

    Merging the histograms in the database (``jsonb_each_text`` / ``json_each`` grouped by
    bucket) was measured too, and was slower on both: a year's report took 746 against 488 ms
    (wall, loaded machine) at 30,000 conversations on PostgreSQL, and 280 against 150 ms of CPU
    by day at 20,000 on SQLite (docs/benchmarks.md)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    sums = {f"sum_{c}": Sum(c) for c in counters}
    for values in qs.order_by().values(*keys).annotate(**sums):
        row = {k: values[k] for k in keys}
        row |= {c: values[f"sum_{c}"] or 0 for c in counters}
        out[tuple(row[k] for k in keys)] = row | {h: {} for h in hists}
    if not hists or not out:
        return list(out.values())
    day_key = keys.index("day") if "day" in keys else None
    sql, params = qs.order_by().values(*keys, *hists).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    for values in fetched:
        key = list(values[: len(keys)])
        if day_key is not None and isinstance(key[day_key], str):
            key[day_key] = date.fromisoformat(key[day_key])  # SQLite gives dates as text
        row = out[tuple(key)]
        for name, hist in zip(hists, values[len(keys) :], strict=True):
            if hist and hist != "{}":
                add_counts(row[name], hist if isinstance(hist, dict) else json.loads(hist))
    return list(out.values())


def summed(
    model: Any,
    where: Q,
    parts: list[Piece],
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    hists: tuple[str, ...],
) -> list[dict[str, Any]]:
    """``grouped`` over the rows of ``model`` matching ``where`` in ``parts``: the parts
    before this month from the cache (``closed``), the others from the database. Rows of
    both come out apart (a key may appear twice); callers add them up."""
    closed_parts, open_parts = closed.split(parts)
    out: list[dict[str, Any]] = []
    if closed_parts:
        sql, params = model.objects.filter(where).query.sql_with_params()
        signature = f"{model.__name__}|{sql}|{params!r}|{keys}|{counters}|{hists}"
        out += closed.cached(
            signature,
            closed_parts,
            lambda units: _per_unit(model, where, units, keys, counters, hists),
            keys,
        )
    if open_parts:
        out += grouped(model.objects.filter(where, period_q(open_parts)), keys, counters, hists)
    return out


def _per_unit(
    model: Any,
    where: Q,
    units: list[Piece],
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    hists: tuple[str, ...],
) -> dict[Piece, list[dict[str, Any]]]:
    """``grouped`` for each of ``units`` (periods of rows), in one pass for them all."""
    extra = tuple(k for k in ("grain", "day") if k not in keys)
    rows = grouped(model.objects.filter(where, period_q(units)), keys + extra, counters, hists)
    out: dict[Piece, list[list[dict[str, Any]]]] = {u: [] for u in units}
    for row in rows:
        unit = closed.unit_of(units, row.get("grain", "day"), row["day"])
        for k in extra:
            del row[k]
        out[unit].append([row])
    return {u: closed.combine(lists, keys) for u, lists in out.items()}


def shape_of(needed: set[str]) -> tuple[str, ...]:
    """The rollup shape holding the dimensions ``needed``: the total, one dimension with the
    others summed, or the full rows."""
    if not needed:
        return ()
    if len(needed) == 1:
        return (next(iter(needed)),)
    return MAIN_DIMS


def shape_q(shape: tuple[str, ...], dims: dict[str, str]) -> Q:
    q = Q()
    for d in MAIN_DIMS:
        if d not in shape:
            q &= Q(**{d: ALL})
        elif d in dims:
            q &= Q(**{d: dims[d]})
        else:
            q &= ~Q(**{d: ALL})
    return q


PROMOTER = 9  # NPS: 9–10 promote, 0–6 detract (care.surveys.LOW_NPS)
DETRACTOR = 6


def nps(f: Filters) -> dict[str, Any]:
    """Net promoter score of the NPS surveys answered in the period (care's surveys: one
    query on the answers, which are few). NPS is asked of customers, not about one
    conversation: the team (the customer's owning team) and tier filters apply, channel, kind,
    tag and agent do not."""
    from django.db.models import Count

    from kefu.care.models import Survey

    zone = timezone.get_default_timezone()
    qs = Survey.objects.filter(
        kind=Survey.Kind.NPS,
        score__isnull=False,
        answered_at__gte=datetime.combine(f.start, time.min, tzinfo=zone),
        answered_at__lt=datetime.combine(f.end + timedelta(days=1), time.min, tzinfo=zone),
    )
    scope = f.scope_q(prefix="customer__", table="nps")
    if f.tier:
        scope &= Q(customer__tier=f.tier)
    counts = qs.filter(scope).aggregate(
        answers=Count("pk"),
        promoters=Count("pk", filter=Q(score__gte=PROMOTER)),
        detractors=Count("pk", filter=Q(score__lte=DETRACTOR)),
    )
    n = counts["answers"]
    score = round(100 * (counts["promoters"] - counts["detractors"]) / n) if n else None
    return {
        "nps": score,
        "nps_answers": n,
        "nps_promoters": counts["promoters"],
        "nps_detractors": counts["detractors"],
    }


@dataclass
class Report:
    filters: Filters
    totals: Totals
    series: dict[str, list[Any]]
    breakdowns: dict[str, list[dict[str, Any]]]
    backlog: int
    extra: dict[str, Any] = field(default_factory=dict)
    chat_load: dict[str, Any] = field(default_factory=dict)

    @property
    def figures(self) -> dict[str, Any]:
        return self.totals.figures() | {"backlog": self.backlog} | self.extra


def report(f: Filters, names: dict[str, dict[Any, str]] | None = None) -> Report:
    """Totals, a time series per grain and breakdowns by dimension, for the filters.

    A fixed number of queries whatever the period, each summing in the database: the main
    rollup's rows for the totals and every breakdown (the coarsest rows covering the period,
    in the shapes the filters and each breakdown need), the series' rows (aligned to its
    grain), the agents' rollup, and the backlog before the period. With an agent chosen ("my
    figures"), totals and series come from the agents' rollup (period, team and agent:
    channel, kind, tier and tag do not apply there). The agents' breakdown under channel,
    kind, tier or tag filters is summed from the facts those filters select (``agents``)."""
    by_agent = f.agent is not None
    totals = Totals()
    per_bucket: dict[date, Totals] = defaultdict(lambda: Totals(fields=SERIES))
    per_dim: dict[str, dict[Any, Totals]] = {
        d: defaultdict(lambda: Totals(fields=BREAKDOWN))
        for d in ("team_id", *MAIN_DIMS, "tag_id", "agent_id")
    }
    coarse = pieces(f.start, f.end, "month")
    aligned = pieces(f.start, f.end, f.grain)
    series: list[dict[str, Any]]
    before: QuerySet[Any]
    agent_q = f.scope_q(table="agent")
    fields = (COUNTERS, HISTOGRAMS) if by_agent else BREAKDOWN
    if agents.filtered(f):  # channel, kind, tier or tag: the agents' rollup has none of them
        agent_rows = agents.agent_rows(f, coarse)
    else:
        agent_rows = summed(AgentDailyRollup, agent_q, coarse, ("team_id", "agent_id"), *fields)
    for row in agent_rows:
        per_dim["agent_id"][row["agent_id"]].add(row)
        if by_agent:
            totals.add(row)
            per_dim["team_id"][row["team_id"]].add(row)
    if by_agent:
        series = summed(AgentDailyRollup, agent_q, aligned, ("day",), *SERIES)
        before = AgentDailyRollup.objects.filter(before_q(f.start), agent_q)
    else:
        dims = f.dims
        base = shape_of(set(dims))
        tag = f.tag or 0
        team_q = f.scope_q(table="main")
        # Which shape each breakdown reads: with no filter a channel's row is (channel, *, *).
        wanted: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for d in MAIN_DIMS:
            wanted[shape_of(set(dims) | {d})].append(d)
        q = Q(tag_id=tag) & (shape_q(base, dims) | Q(pk__in=[]))
        for shape in wanted:
            if shape != base:
                q |= Q(tag_id=tag) & shape_q(shape, dims)
        if f.tag is None:
            q |= Q(tag_id__gt=0) & shape_q(base, dims)  # the breakdown by tag
        main_keys = ("tag_id", "team_id", *MAIN_DIMS)
        for row in summed(DailyRollup, q & team_q, coarse, main_keys, COUNTERS, HISTOGRAMS):
            if row["tag_id"] != tag:
                per_dim["tag_id"][row["tag_id"]].add(row)
                continue
            shape = tuple(d for d in MAIN_DIMS if row[d] != ALL)
            if shape == base:
                totals.add(row)
                per_dim["team_id"][row["team_id"]].add(row)
                if f.tag is not None:
                    per_dim["tag_id"][row["tag_id"]].add(row)
            for d in wanted.get(shape, ()):
                per_dim[d][row[d]].add(row)
        series_q = shape_q(base, dims) & team_q & Q(tag_id=tag)
        series = summed(DailyRollup, series_q, aligned, ("day",), *SERIES)
        before = DailyRollup.objects.filter(
            before_q(f.start), shape_q(base, dims), team_q, tag_id=tag
        )
    for row in series:
        per_bucket[bucket_start(row["day"], f.grain)].add(row)
    sums = before.aggregate(created=Sum("created"), resolved=Sum("resolved"))
    backlog = (sums["created"] or 0) - (sums["resolved"] or 0)
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
    load = chatload.figures(
        f, [date.fromisoformat(x) for x in labels], partial(bucket_start, grain=f.grain)
    )
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
        extra=({} if by_agent else nps(f)) | {"chat_concurrency": load["mean"]},
        chat_load=load,
    )
