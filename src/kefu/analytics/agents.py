"""The per-agent table under channel, kind, tier or tag filters.

The agents' rollup is kept per team and agent only (split by every dimension it would be as
large as the main rollup times the agents of a team), so with those filters the table is
summed from the facts of the conversations the filters select, created or resolved in the
period: what a fact adds to the rollups' breakdown columns (``rollups._day_deltas``), so
the figures match what the rollups would give. Closed months come from the cache (``closed``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q

from kefu.analytics import closed
from kefu.analytics.facts import GOOD_RATING
from kefu.analytics.filters import Filters
from kefu.analytics.models import ConversationFact
from kefu.analytics.rollups import HISTOGRAMS, bucket

COUNTERS = ("created", "resolved", "sla_first_total", "sla_first_met", "rated", "rated_good")

FIELDS = (
    "team_id",
    "agent_id",
    "created_day",
    "resolved_day",
    "first_response_minutes",
    "next_response_minutes",
    "sla_first_met",
    "resolution_minutes",
    "satisfaction",
)


def filtered(f: Filters) -> bool:
    """Whether the table needs the facts (a filter the agents' rollup does not hold)."""
    return f.agent is None and bool(f.dims or f.tag is not None)


def _where(f: Filters) -> Q:
    q = f.scope_q(table="facts")
    if f.tag is not None:
        if connection.vendor == "postgresql":
            q &= Q(tags__contains=[f.tag])  # the fact's own tags, checked on its row (jsonb)
        else:
            q &= Q(conversation__tags__id=f.tag)  # SQLite's JSON has no containment
    return q


def _rows(where: Q, units: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """Per unit of the period (grain, first, last) and (team, agent): what the facts add to
    its days, for the columns of a breakdown (``metrics.BREAKDOWN``): ``rollups._day_deltas``
    cut down to them (a test checks both give the same table)."""
    spans = _spans(units)
    if not spans:
        return {}

    def unit(day: date | None) -> Any:
        if day is None:
            return None
        return next((u for u in units if u[1] <= day <= u[2]), None)

    out: dict[Any, dict[tuple[int, int], dict[str, Any]]] = {u: {} for u in units}

    def row(u: Any, team: int | None, agent: int | None) -> dict[str, Any]:
        key = (team or 0, agent or 0)
        found = out[u].get(key)
        if found is None:
            found = out[u][key] = {"team_id": key[0], "agent_id": key[1]}
            found |= {c: 0 for c in COUNTERS} | {h: {} for h in HISTOGRAMS}
        return found

    def arm(*q: Q) -> Any:
        return ConversationFact.objects.filter(where, *q).order_by().values_list(*FIELDS)

    # each fact once: created in a span, or resolved in one and created before it (and not
    # in an earlier span). Apart, each arm is one range of an index: the created arms read
    # the covering index (analytics/0005: the filters are checked in it, and with the table
    # vacuumed nothing else is read), the resolved ones (resolved_day, created_day)
    arms = [arm(Q(created_day__range=s)) for s in spans]
    for i, (first, last) in enumerate(spans):
        earlier = [~Q(created_day__range=s) for s in spans[:i]]
        arms.append(arm(Q(resolved_day__range=(first, last), created_day__lt=first), *earlier))
    facts = arms[0].union(*arms[1:], all=True) if len(arms) > 1 else arms[0]
    for team, agent, created, resolved_day, first, nexts, sla, resolution, rating in facts:
        if (u := unit(created)) is not None:
            r = row(u, team, agent)
            r["created"] += 1
            if first is not None:
                _count(r["first_response_hist"], first)
            for m in nexts or ():
                _count(r["next_response_hist"], m)
            if sla is not None:
                r["sla_first_total"] += 1
                r["sla_first_met"] += 1 if sla else 0
        if (u := unit(resolved_day)) is not None:
            r = row(u, team, agent)
            r["resolved"] += 1
            _count(r["resolution_hist"], resolution or 0)
        if rating is not None and (u := unit(resolved_day or created)) is not None:
            r = row(u, team, agent)
            r["rated"] += 1
            r["rated_good"] += 1 if rating >= GOOD_RATING else 0
    return {u: list(rows.values()) for u, rows in out.items()}


def _spans(units: list[Any]) -> list[tuple[date, date]]:
    """The units' days as runs (first, last), adjacent units joined, in order."""
    out: list[tuple[date, date]] = []
    for _g, first, last in sorted(units, key=lambda u: u[1]):
        if out and first <= out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def _count(hist: dict[str, int], value: float) -> None:
    b = str(bucket(value))
    hist[b] = hist.get(b, 0) + 1


def agent_rows(f: Filters, parts: list[Any]) -> list[dict[str, Any]]:
    """The per-agent rows for the period ``parts`` under ``f``'s filters (the breakdown's
    counters and histograms)."""
    where = _where(f)
    closed_parts, open_parts = closed.split(parts)
    out: list[dict[str, Any]] = []
    if closed_parts:
        sql, params = ConversationFact.objects.filter(where).query.sql_with_params()
        out += closed.cached(
            f"agents|{sql}|{params!r}",
            closed_parts,
            lambda units: _rows(where, units),
            ("team_id", "agent_id"),
        )
    if open_parts:
        out += [r for rows in _rows(where, open_parts).values() for r in rows]
    return out
