"""The per-agent table under channel, kind, tier or tag filters.

The agents' rollup is kept per team and agent only (split by every dimension it would be as
large as the main rollup times the agents of a team), so with those filters the table is
summed from the facts of the conversations the filters select, created or resolved in the
period: the same deltas a fact adds to the rollups (``rollups._day_deltas``), so the figures
match what the rollups would give. Closed months come from the cache (``closed``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models import Q

from kefu.analytics import closed
from kefu.analytics.filters import Filters
from kefu.analytics.models import ConversationFact
from kefu.analytics.rollups import HISTOGRAMS, _day_deltas, merge

FIELDS = (
    "team_id",
    "agent_id",
    "created_day",
    "resolved_day",
    "reopens",
    "first_response_minutes",
    "next_response_minutes",
    "sla_first_met",
    "chat_wait_seconds",
    "chat_missed",
    "resolution_minutes",
    "replies",
    "sla_resolution_met",
    "satisfaction",
)


def filtered(f: Filters) -> bool:
    """Whether the table needs the facts (a filter the agents' rollup does not hold)."""
    return f.agent is None and bool(f.dims or f.tag is not None)


def _where(f: Filters) -> Q:
    q = f.scope_q(table="facts")
    if f.tag is not None:
        q &= Q(conversation__tags__id=f.tag)
    return q


def _rows(where: Q, spans: list[tuple[date, date]], counters: Iterable[str]) -> list[dict]:
    """Per (team, agent): the deltas of the facts' days inside ``spans``."""
    counters = tuple(counters)
    within = Q(pk__in=[])
    for first, last in spans:
        within |= Q(created_day__range=(first, last)) | Q(resolved_day__range=(first, last))
    out: dict[tuple[int, int], dict[str, Any]] = {}
    facts = ConversationFact.objects.filter(where, within).order_by().values(*FIELDS)
    for fact in facts.iterator(chunk_size=5000):
        key = (fact["team_id"] or 0, fact["agent_id"] or 0)
        for day, delta in _day_deltas(fact).items():
            if not any(first <= day <= last for first, last in spans):
                continue
            row = out.get(key)
            if row is None:
                row = out[key] = {"team_id": key[0], "agent_id": key[1]}
                row |= {c: 0 for c in counters} | {h: {} for h in HISTOGRAMS}
            for name, value in delta.items():
                if name in HISTOGRAMS:
                    merge(row[name], value)
                elif name in row:
                    row[name] += value
    return list(out.values())


def _spans(parts: list[Any]) -> list[tuple[date, date]]:
    return [(first, last) for _g, first, last in parts]


def agent_rows(f: Filters, parts: list[Any], counters: Iterable[str]) -> list[dict[str, Any]]:
    """The per-agent rows for the period ``parts`` under ``f``'s filters."""
    counters = tuple(counters)
    where = _where(f)
    closed_parts, open_parts = closed.split(parts)
    out: list[dict[str, Any]] = []
    if closed_parts:
        sql, params = ConversationFact.objects.filter(where).query.sql_with_params()
        out += closed.cached(
            f"agents|{sql}|{params!r}|{counters}",
            closed_parts,
            lambda ps: _rows(where, _spans(ps), counters),
        )
    if open_parts:
        out += _rows(where, _spans(open_parts), counters)
    return out
