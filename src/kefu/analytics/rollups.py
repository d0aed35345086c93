"""Rollups: each conversation's fact adds to a few rollup rows (its days, weeks and months, in
the shapes the filters read); a changed fact takes its old contribution out and puts the new
one in, so the rollups always equal a recomputation.

Durations go into log-bucketed histograms: whole minutes below an hour are exact, above it
buckets are 10 % wide, so medians and percentiles come from the rollups alone.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from kefu.analytics import chatload, closed
from kefu.analytics.facts import GOOD_RATING, all_facts, fact_for, fact_values
from kefu.analytics.models import (
    ALL,
    GRAINS,
    AgentDailyRollup,
    ConversationFact,
    DailyRollup,
    Rollup,
)

EXACT = 60
GROWTH = 1.1
HISTOGRAMS = ("first_response_hist", "next_response_hist", "resolution_hist", "chat_wait_hist")
COUNTERS = tuple(
    f.attname
    for f in DailyRollup._meta.concrete_fields
    if f.get_internal_type() in ("IntegerField", "FloatField")
)
# Each fact's rows go to both tables, each keyed by its own dimensions.
TABLES: dict[str, tuple[type[Rollup], tuple[str, ...]]] = {
    "main": (DailyRollup, ("grain", "day", "tag_id", "team_id", "channel", "kind", "tier")),
    "agent": (AgentDailyRollup, ("grain", "day", "team_id", "agent_id")),
}
Key = tuple[Any, ...]  # (table name, *that table's key values)


def bucket(value: float) -> int:
    if value < EXACT:
        return int(value)
    return EXACT + int(math.log(value / EXACT) / math.log(GROWTH))


def bucket_value(b: int) -> float:
    """The lower bound of a bucket (exact for whole minutes below an hour)."""
    return float(b) if b < EXACT else EXACT * GROWTH ** (b - EXACT)


def percentile(hist: dict[str, int], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of a histogram (None when it is empty)."""
    total = sum(hist.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0
    for b in sorted(hist, key=int):
        seen += hist[b]
        if seen >= rank:
            return bucket_value(int(b))
    return None


def merge(into: dict[str, int], other: dict[str, int], sign: int = 1) -> None:
    for b, n in other.items():
        v = into.get(b, 0) + sign * n
        if v:
            into[b] = v
        else:
            into.pop(b, None)


def period_start(day: date, grain: str) -> date:
    """The first day of ``day``'s period at ``grain`` (a day, its Monday, the 1st)."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _day_deltas(f: dict[str, Any]) -> dict[date, dict[str, Any]]:
    """What one fact adds to each day it touches (created, resolved, rated)."""
    by_day: dict[date, dict[str, Any]] = {}

    def row(day: date) -> dict[str, Any]:
        return by_day.setdefault(day, defaultdict(int))

    c = row(f["created_day"])
    c["created"] += 1
    c["reopened"] += 1 if f["reopens"] else 0
    if f["first_response_minutes"] is not None:
        c["responded"] += 1
        c["first_response_sum"] += f["first_response_minutes"]
        c["first_response_hist"] = {str(bucket(f["first_response_minutes"])): 1}
    if f["next_response_minutes"]:
        hist: dict[str, int] = {}
        for m in f["next_response_minutes"]:
            merge(hist, {str(bucket(m)): 1})
        c["next_response_hist"] = hist
    if f["sla_first_met"] is not None:
        c["sla_first_total"] += 1
        c["sla_first_met"] += 1 if f["sla_first_met"] else 0
    if f["chat_wait_seconds"] is not None or f["chat_missed"]:
        c["chats"] += 1
        c["chats_missed"] += 1 if f["chat_missed"] else 0
        if f["chat_wait_seconds"] is not None:
            c["chat_wait_hist"] = {str(bucket(f["chat_wait_seconds"])): 1}
    if f["resolved_day"] is not None:
        r = row(f["resolved_day"])
        r["resolved"] += 1
        r["resolution_sum"] += f["resolution_minutes"] or 0
        r["resolution_hist"] = {str(bucket(f["resolution_minutes"] or 0)): 1}
        r["one_touch"] += 1 if f["replies"] == 1 and not f["reopens"] else 0
        if f["sla_resolution_met"] is not None:
            r["sla_resolution_total"] += 1
            r["sla_resolution_met"] += 1 if f["sla_resolution_met"] else 0
    if f["satisfaction"] is not None:
        s = row(f["resolved_day"] or f["created_day"])
        s["rated"] += 1
        s["rating_sum"] += f["satisfaction"]
        s["rated_good"] += 1 if f["satisfaction"] >= GOOD_RATING else 0
    return by_day


def day_keys(f: dict[str, Any], day: date) -> list[Key]:
    """The day-level full rows a fact's delta for ``day`` goes to: the main rollup once for
    every conversation (tag 0) and once per tag, and the agents' rollup."""
    team = f["team_id"] or 0
    dims = (f["channel"], f["kind"], f["tier"])
    keys: list[Key] = [("main", "day", day, tag, team, *dims) for tag in (0, *(f["tags"] or ()))]
    keys.append(("agent", "day", day, team, f["agent_id"] or 0))
    return keys


def expand(key: Key) -> list[Key]:
    """Every row a day-level full row adds to: its day, week and month, each in every shape
    (the full row, one per channel, kind and tier with the others summed, and the total)."""
    if key[0] == "agent":
        _table, _grain, day, team, agent = key
        return [("agent", g, period_start(day, g), team, agent) for g in GRAINS]
    _table, _grain, day, tag, team, channel, kind, tier = key
    shapes = (
        (channel, kind, tier),
        (channel, ALL, ALL),
        (ALL, kind, ALL),
        (ALL, ALL, tier),
        (ALL, ALL, ALL),
    )
    return [("main", g, period_start(day, g), tag, team, *s) for g in GRAINS for s in shapes]


_HISTOGRAMS = frozenset(HISTOGRAMS)


def _sum_into(target: dict[str, Any], delta: dict[str, Any]) -> None:
    """``_add`` for the rebuild, which only adds: no rounding at each step (``_rounded`` once
    at the end gives the same figures: the values have two decimals) and no zero to drop."""
    for name, value in delta.items():
        if name in _HISTOGRAMS:
            hist = target.get(name)
            if hist is None:
                target[name] = dict(value)
            else:
                get = hist.get
                for b, n in value.items():
                    hist[b] = get(b, 0) + n
        else:
            target[name] = target.get(name, 0) + value


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    for name, value in values.items():
        if name not in _HISTOGRAMS and isinstance(value, float):
            values[name] = round(value, 6)
    return values


def derive(days: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Every rollup row from the day-level full rows (the same rows as ``expand`` gives,
    summed level by level: weeks and months from days, summed shapes from the full rows of
    each grain; about seven additions per day row instead of fifteen). The day rows are
    taken over, not copied."""
    out: dict[Key, dict[str, Any]] = {}
    for key, values in days.items():
        out[key] = values
        day = key[2]
        rest = key[3:]
        for g in GRAINS[1:]:
            _sum_into(out.setdefault((key[0], g, period_start(day, g), *rest), {}), values)
    full = [k for k in out if k[0] == "main"]
    for key in full:
        values = out[key]
        _table, grain, first, tag, team, channel, kind, tier = key
        for dims in ((channel, ALL, ALL), (ALL, kind, ALL), (ALL, ALL, tier), (ALL, ALL, ALL)):
            _sum_into(out.setdefault(("main", grain, first, tag, team, *dims), {}), values)
    return out


def contributions(f: dict[str, Any] | None) -> dict[Key, dict[str, Any]]:
    """The rollup deltas of one fact (as a dict of field values), by table and key."""
    if f is None:
        return {}
    out: dict[Key, dict[str, Any]] = {}
    for day, delta in _day_deltas(f).items():
        for key in day_keys(f, day):
            for k in expand(key):
                _add(out.setdefault(k, {}), delta, 1)
    return out


def _add(target: dict[str, Any], delta: dict[str, Any], sign: int) -> None:
    for name, value in delta.items():
        if name in HISTOGRAMS:
            hist = target.get(name)
            if hist is None:
                target[name] = hist = {}
            merge(hist, value, sign)  # in place: copying would make the rebuild quadratic-ish
        else:
            # Rounded so that adding and taking out again leaves an exact zero.
            target[name] = round((target.get(name) or 0) + sign * value, 6)


def _empty(values: dict[str, Any]) -> bool:
    return not any(values.get(n) for n in COUNTERS) and not any(values.get(h) for h in HISTOGRAMS)


def apply(old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    """Take ``old``'s contribution out of the rollups and put ``new``'s in (one transaction;
    each table's rows read and locked in one query, in key order, so concurrent refreshes
    cannot lose an update)."""
    deltas: dict[Key, list[tuple[dict[str, Any], int]]] = defaultdict(list)
    for k, d in contributions(old).items():
        deltas[k].append((d, -1))
    for k, d in contributions(new).items():
        deltas[k].append((d, 1))
    for table, (model, names) in TABLES.items():
        keys = [k for k in deltas if k[0] == table]
        if not keys:
            continue
        match = Q()
        for key in keys:
            match |= Q(**dict(zip(names, key[1:], strict=True)))
        manager = model._default_manager
        rows = {
            (table, *(getattr(r, n) for n in names)): r
            for r in manager.select_for_update().filter(match).order_by(*names)
        }
        gone: list[int] = []
        created: list[Rollup] = []
        for key in keys:
            row = rows.get(key)
            values: dict[str, Any] = (
                {n: getattr(row, n) for n in COUNTERS + HISTOGRAMS} if row else {}
            )
            for delta, sign in deltas[key]:
                _add(values, delta, sign)
            if _empty(values):
                if row:
                    gone.append(row.pk)
                continue
            if row is None:
                created.append(model(**dict(zip(names, key[1:], strict=True)), **values))
            else:
                for n, v in values.items():
                    setattr(row, n, v)
                row.save(update_fields=list(values))
        if gone:
            manager.filter(pk__in=gone).delete()
        if created:
            manager.bulk_create(created)
    closed.changed(k[2] for k in deltas)


def refresh(conversation_id: int) -> None:
    """Recompute one conversation's fact and move the rollups by the difference."""
    from kefu.conversations.models import Conversation

    with transaction.atomic():
        # The conversation's row lock orders this refresh after the action that caused it.
        Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        old_fact = ConversationFact.objects.filter(pk=conversation_id).first()
        new_fact = fact_for(conversation_id)
        old, new = fact_values(old_fact), fact_values(new_fact)
        if old == new:
            return
        apply(old, new)
        chatload.refresh(chatload.touched(old) | chatload.touched(new))
        if new_fact is None:
            ConversationFact.objects.filter(pk=conversation_id).delete()
        else:
            new_fact.save()


def aggregate(facts: Iterable[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    rows: dict[Key, dict[str, Any]] = {}
    for f in facts:
        for key, delta in contributions(f).items():
            _add(rows.setdefault(key, {}), delta, 1)
    return rows


def _insert(model: Any, rows: list[dict[str, Any]]) -> None:
    """Plain INSERTs (COPY on PostgreSQL) of ``rows`` (attribute name → value): the rebuild
    writes a row per conversation, and the ORM's per-field preparation would dominate it."""
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if f.attname in rows[0]]
    json_fields = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    names = [(f.attname, f.attname in json_fields) for f in fields]
    dumps = json.dumps
    values = (
        tuple(
            ("{}" if r[n] == {} else "[]" if r[n] == [] else dumps(r[n])) if is_json else r[n]
            for n, is_json in names
        )
        for r in rows
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(fields))
            # Table and column names come from the model, never from input.
            sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
            cursor.executemany(sql, list(values))


def rebuild(batch: int = 5000) -> dict[str, int]:
    """Recompute every fact from conversations, messages, timeline and chats, then every
    rollup from the facts. Linear in the data: each source table is read once; the facts
    make the day-level rows, and the weeks, months and summed shapes come from those rows
    (bounded by days × dimensions, not by conversations)."""
    facts = rows = 0
    days: dict[Key, dict[str, Any]] = {}
    with transaction.atomic():
        ConversationFact.objects.all().delete()
        for model, _names in TABLES.values():
            model._default_manager.all().delete()
        pending: list[dict[str, Any]] = []
        for fact in all_facts(batch):
            values = fact_values(fact)
            assert values is not None
            pending.append(values)
            for day, delta in _day_deltas(values).items():
                for key in day_keys(values, day):
                    _sum_into(days.setdefault(key, {}), delta)
            if len(pending) >= batch:
                _insert(ConversationFact, pending)
                facts += len(pending)
                pending = []
        _insert(ConversationFact, pending)
        facts += len(pending)
        totals = derive(days)
        del days
        for table, (model, names) in TABLES.items():
            blank: dict[str, Any] = {n: 0 for n in COUNTERS} | {h: {} for h in HISTOGRAMS}
            out = [
                blank | dict(zip(names, key[1:], strict=True)) | _rounded(values)
                for key, values in totals.items()
                if key[0] == table and not _empty(values)
            ]
            for i in range(0, len(out), 5000):
                _insert(model, out[i : i + 5000])
            rows += len(out) if table == "main" else 0
        chatload.rebuild()
        closed.rebuilt()
    if connection.vendor == "postgresql":
        # Every row was just rewritten: fresh statistics keep the dashboard's plans right.
        tables: list[Any] = [ConversationFact, *(m for m, _names in TABLES.values())]
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ", ".join(t._meta.db_table for t in tables))
    return {"facts": facts, "rollups": rows}


def recompute() -> dict[Key, dict[str, Any]]:
    """The rollups a rebuild would write, without writing (for tests and checks)."""
    values = (v for f in all_facts() if (v := fact_values(f)) is not None)
    return {
        k: {n: x for n, x in v.items() if x} for k, v in aggregate(values).items() if not _empty(v)
    }


def stored() -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    for table, (model, names) in TABLES.items():
        for row in model._default_manager.all():
            key = (table, *(getattr(row, n) for n in names))
            values = {n: getattr(row, n) for n in COUNTERS + HISTOGRAMS}
            out[key] = {n: v for n, v in values.items() if v}
    return out
