"""Sums of closed months, cached: a report's rollup rows before this month change only when
a late event refreshes an old conversation, or on a rebuild, so a year's report reads eleven
months of sums from the cache and sums only this month's rows in the database.

Each month has a version in the cache, renewed after every commit that changes one of its
rollup rows (``rollups.apply``), and a rebuild renews the generation of them all; a cached
sum is keyed by the versions of the months it covers, so it is never read after a change.
A missing version (evicted) gets a new random one, never an old one. Entries also expire
after ``TTL``: with a per-process cache (no Redis) and workers in other processes, the
versions those processes renew are not seen here, and this bounds how stale a sum can be.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

TTL = 15 * 60
PREFIX = "kefu:analytics:closed"
GENERATION = f"{PREFIX}:generation"


def _month_key(month: date) -> str:
    return f"{PREFIX}:month:{month.isoformat()}"


def months_between(first: date, last: date) -> list[date]:
    out = []
    m = first.replace(day=1)
    while m <= last:
        out.append(m)
        m = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def changed(days: Iterable[date]) -> None:
    """The rollup rows of these days (and their weeks and months) change in the current
    transaction: renew their months' versions once it commits (before, a report could read
    the old rows and cache them under the new version)."""
    months = {d.replace(day=1) for d in days}
    if not months:
        return
    transaction.on_commit(lambda: _renew(months), robust=True)


def _renew(months: Iterable[date]) -> None:
    cache.set_many({_month_key(m): secrets.token_hex(8) for m in months}, None)


def rebuilt() -> None:
    """Every rollup row was rewritten."""
    transaction.on_commit(lambda: cache.set(GENERATION, secrets.token_hex(8), None), robust=True)


def _versions(months: list[date]) -> str:
    keys = [GENERATION, *(_month_key(m) for m in months)]
    found = cache.get_many(keys)
    for key in keys:
        if key not in found:
            token = secrets.token_hex(8)
            found[key] = token if cache.add(key, token, None) else cache.get(key, token)
    return ":".join(str(found[k]) for k in keys)


def split(parts: list[Any]) -> tuple[list[Any], list[Any]]:
    """``parts`` (grain, first, last) ending before this month, and the others."""
    this_month = timezone.localdate().replace(day=1)
    if any(g == "day" and first < this_month <= last for g, first, last in parts):
        # a run of days into this month (a year by day): its closed months' days apart
        parts = [q for p in parts for q in _at(p, this_month)]
    closed = [p for p in parts if p[2] < this_month]
    return closed, [p for p in parts if p[2] >= this_month]


def _at(part: Any, month: date) -> list[Any]:
    grain, first, last = part
    if grain != "day" or not first < month <= last:
        return [part]
    return [(grain, first, month - timedelta(days=1)), (grain, month, last)]


def cached(
    signature: str, parts: list[Any], compute: Callable[[list[Any]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """``compute(parts)`` for closed ``parts``, from the cache while none of their months
    changed. ``signature`` names everything else the result depends on (the query)."""
    if not parts:
        return []
    months = sorted({m for _g, first, last in parts for m in months_between(first, last)})
    digest = hashlib.sha1(
        f"{signature}|{parts!r}|{_versions(months)}".encode(), usedforsecurity=False
    ).hexdigest()
    key = f"{PREFIX}:sums:{digest}"
    rows: list[dict[str, Any]] | None = cache.get(key)
    if rows is None:
        rows = compute(parts)
        cache.set(key, rows, TTL)
    return rows
