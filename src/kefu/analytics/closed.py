"""Sums of closed months, cached: a report's rollup rows before this month change only when
a late event refreshes an old conversation, or on a rebuild, so a year's report reads eleven
months of sums from the cache and sums only this month's rows in the database.

Each month has a version in the cache, renewed after every commit that changes one of its
rollup rows (``rollups.apply``), and a rebuild renews the generation of them all; a cached
sum is keyed by the versions of the months it covers, so it is never read after a change.
A missing version (evicted) gets a new random one, never an old one. Entries also expire
(``ttl``): with a per-process cache (no Redis) and workers in other processes, the versions
those processes renew are not seen here, and this bounds how stale a sum can be (an hour).

``warm`` computes the standard reports' sums before a manager asks (a task: after a rebuild,
a minute after a late event renews a closed month, and on the first hourly slot of a day or,
with the per-process cache, of every hour, its entries' lifetime).
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


def ttl() -> int:
    """How long a cached sum is kept: a day when the cache is shared (Redis: every process
    renews the versions there), an hour when it is per process."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    return 3600 if isinstance(caches["default"], LocMemCache) else 86400


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
    months = list(months)
    cache.set_many({_month_key(m): secrets.token_hex(8) for m in months}, None)
    if any(m < timezone.localdate().replace(day=1) for m in months):
        schedule_warm(WARM_AFTER)  # a late event: the standard reports' sums again, soon


def rebuilt() -> None:
    """Every rollup row was rewritten."""

    def renew() -> None:
        cache.set(GENERATION, secrets.token_hex(8), None)
        schedule_warm(0)

    transaction.on_commit(renew, robust=True)


WARM_AFTER = 60  # seconds: a burst of late events (a re-opened case's replies) makes one warm
WARM_PENDING = f"{PREFIX}:warm-pending"


def schedule_warm(delay: int) -> bool:
    """Enqueue ``warm_closed`` to run in ``delay`` seconds, unless one is waiting already (it
    clears the mark when it starts, so nothing renewed after that is missed). Not with the
    tests' immediate backend: every standard report would be summed inline, in the commit."""
    from kefu.analytics.tasks import warm_closed

    if not warm_closed.get_backend().supports_defer:
        return False
    if not cache.add(WARM_PENDING, 1, delay + 600):
        return False
    try:
        warm_closed.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue()
    except Exception:
        cache.delete(WARM_PENDING)
        raise
    return True


def standard_filters(today: date | None = None) -> list[Any]:
    """The manager dashboard's standard reports (``Filters``): every period it offers (7, 30,
    90 days, 12 months) by each grain with no filter, and by its default grain for each team."""
    from kefu.analytics.filters import GRAINS, PERIODS, Filters
    from kefu.staff.models import Team

    today = today or timezone.localdate()
    teams = list(Team.objects.order_by("pk").values_list("pk", flat=True))
    out = []
    for period, days in PERIODS.items():
        start = today - timedelta(days=days - 1)
        default = "day" if days - 1 <= 62 else "week"  # as ``Filters.from_params``
        for grain in (default, *(g for g in GRAINS if g != default)):
            out.append(Filters(start=start, end=today, period=period, grain=grain))
        for team in teams:
            out.append(Filters(start=start, end=today, period=period, grain=default, team=team))
    return out


def warm(today: date | None = None) -> int:
    """The closed months' sums of the standard reports, computed and cached (by the reports
    themselves, so the keys are the ones a request reads); their per-month entries serve
    filtered views too where the filters read the same rows. Returns the reports run."""
    from kefu.analytics.metrics import report

    cache.delete(WARM_PENDING)  # a change from now on schedules another warm
    reports = standard_filters(today)
    for f in reports:
        report(f)
    return len(reports)


def warm_if_due() -> bool:
    """The periodic warm: once a local day (a new month's closed month included) with a
    shared cache, every hour (its entries' lifetime) with a per-process one."""
    if not cache.add(f"{PREFIX}:warmed:{timezone.localdate().isoformat()}", 1, ttl() - 300):
        return False
    warm()
    return True


def _versions(months: list[date]) -> dict[str, str]:
    keys = [GENERATION, *(_month_key(m) for m in months)]
    found = cache.get_many(keys)
    for key in keys:
        if key not in found:
            token = secrets.token_hex(8)
            found[key] = token if cache.add(key, token, None) else cache.get(key, token)
    return {k: str(found[k]) for k in keys}


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


def _units(part: Any) -> list[Any]:
    """A part cut at month ends (a run of days over many months), so that a change in one
    month leaves the other months' sums in the cache."""
    grain, first, last = part
    if grain != "day":
        return [part]
    out = []
    for m in months_between(first, last):
        end = (m.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        out.append((grain, max(first, m), min(last, end)))
    return out


def combine(lists: Iterable[list[dict[str, Any]]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows summed by ``keys`` (counters added, histograms merged); the rows are taken over."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rows in lists:
        for row in rows:
            k = tuple(row[x] for x in keys)
            into = out.get(k)
            if into is None:
                out[k] = row
                continue
            for name, value in row.items():
                if name in keys:
                    continue
                if isinstance(value, dict):
                    hist = into[name]
                    for b, n in value.items():
                        hist[b] = hist.get(b, 0) + n
                else:
                    into[name] += value
    return list(out.values())


def unit_of(units: list[Any], grain: str, day: date) -> Any:
    """The unit (grain, first, last) holding a row of ``grain`` starting on ``day``."""
    for u in units:
        if u[0] == grain and u[1] <= day <= u[2]:
            return u
    return None


def cached(
    signature: str,
    parts: list[Any],
    compute: Callable[[list[Any]], dict[Any, list[dict[str, Any]]]],
    keys: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The rows (keyed by ``keys``) of closed ``parts``, from the cache while none of their
    months changed; ``compute(units)`` gives each unit's rows, in one pass for them all.
    ``signature`` names everything else the result depends on (the query). Two levels: the
    whole period's rows, and each unit's (a month, a week, a month's days), so that after a
    late event in one month only that month is read again."""
    if not parts:
        return []
    units = [u for p in parts for u in _units(p)]
    spans = {u: months_between(u[1], u[2]) for u in units}
    months = sorted({m for ms in spans.values() for m in ms})
    versions = _versions(months)
    generation = versions[GENERATION]

    def key(what: Any, ms: list[date]) -> str:
        tokens = ":".join(versions[_month_key(m)] for m in ms)
        text = f"{signature}|{what!r}|{generation}|{tokens}"
        return f"{PREFIX}:sums:{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()}"

    whole = key(parts, months)
    rows: list[dict[str, Any]] | None = cache.get(whole)
    if rows is not None:
        return rows
    unit_keys = {u: key(u, spans[u]) for u in units}
    found = cache.get_many(list(unit_keys.values()))
    missing = [u for u in units if unit_keys[u] not in found]
    fresh = compute(missing) if missing else {}
    if fresh:
        cache.set_many({unit_keys[u]: r for u, r in fresh.items()}, ttl())
    rows = combine((found.get(unit_keys[u]) or fresh.get(u) or [] for u in units), keys)
    cache.set(whole, rows, ttl())
    return rows
