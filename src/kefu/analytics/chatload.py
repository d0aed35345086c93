"""Concurrent chats per agent: for each agent and day, how many live chats they had at once.

Not additive (two chats of one agent overlap or not), so each :class:`AgentChatLoad` row is
recomputed from that agent's chat sessions of that day whenever one of them changes (the
conversation's fact refresh says which) and by the rebuild; it always equals the sessions.
Only ended chats count: an open chat joins when it ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Max, Q, Sum
from django.utils import timezone

from kefu.analytics.facts import local_day
from kefu.analytics.models import AgentChatLoad

Interval = tuple[datetime, datetime]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def days_of(start: datetime, end: datetime) -> list[date]:
    first, last = local_day(start), local_day(end)
    if end == day_bounds(last)[0] and last > first:
        last -= timedelta(days=1)  # ends at midnight: nothing of the next day
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def load_of(intervals: Iterable[Interval], day: date) -> dict[str, Any]:
    """Chats accepted on ``day``, chat and busy seconds within it and the peak at once."""
    lo, hi = day_bounds(day)
    events: list[tuple[datetime, int]] = []
    chats = 0
    chat_seconds = 0.0
    for start, end in intervals:
        if lo <= start < hi:
            chats += 1
        a, b = max(start, lo), min(end, hi)
        if b > a:
            chat_seconds += (b - a).total_seconds()
            events += [(a, 1), (b, -1)]
    events.sort()  # at the same instant an end (-1) comes before a start (+1)
    at_once = peak = 0
    busy = 0.0
    previous: datetime | None = None
    for moment, step in events:
        if at_once > 0 and previous is not None:
            busy += (moment - previous).total_seconds()
        at_once += step
        peak = max(peak, at_once)
        previous = moment
    return {
        "chats": chats,
        "chat_seconds": round(chat_seconds, 3),
        "busy_seconds": round(busy, 3),
        "peak": peak,
    }


def touched(fact: dict[str, Any] | None) -> set[tuple[int, date]]:
    """The (agent, day) rows a fact's chat is part of."""
    if not fact or fact.get("chat_agent_id") is None:
        return set()
    start, end = fact.get("chat_accepted_at"), fact.get("chat_ended_at")
    if start is None or end is None or end <= start:
        return set()
    return {(fact["chat_agent_id"], d) for d in days_of(start, end)}


def _sessions(agent_id: int, day: date) -> list[Interval]:
    from kefu.livechat.models import ChatSession

    lo, hi = day_bounds(day)
    rows = ChatSession.objects.filter(
        agent_id=agent_id, accepted_at__isnull=False, accepted_at__lt=hi, ended_at__gt=lo
    ).values_list("accepted_at", "ended_at")
    return [(start, end) for start, end in rows if start is not None and end is not None]


def _store(agent_id: int, day: date, values: dict[str, Any]) -> None:
    if not values["chats"] and not values["chat_seconds"]:
        AgentChatLoad.objects.filter(agent_id=agent_id, day=day).delete()
        return
    AgentChatLoad.objects.update_or_create(agent_id=agent_id, day=day, defaults=values)


def refresh(pairs: Iterable[tuple[int, date]]) -> None:
    for agent_id, day in sorted(pairs):
        _store(agent_id, day, load_of(_sessions(agent_id, day), day))


def recompute() -> dict[tuple[int, date], dict[str, Any]]:
    """Every row from the sessions: each agent's sessions read once, each split into the days
    it spans (linear in sessions × days spanned)."""
    from kefu.livechat.models import ChatSession

    by_day: dict[tuple[int, date], list[Interval]] = defaultdict(list)
    for agent_id, start, end in (
        ChatSession.objects.filter(
            agent_id__isnull=False, accepted_at__isnull=False, ended_at__isnull=False
        )
        .order_by()
        .values_list("agent_id", "accepted_at", "ended_at")
        .iterator(chunk_size=10000)
    ):
        if start is not None and end is not None and end > start:
            for d in days_of(start, end):
                by_day[(agent_id, d)].append((start, end))
    out = {}
    for (agent_id, day), intervals in by_day.items():
        values = load_of(intervals, day)
        if values["chats"] or values["chat_seconds"]:
            out[(agent_id, day)] = values
    return out


def rebuild() -> int:
    rows = recompute()
    AgentChatLoad.objects.all().delete()
    AgentChatLoad.objects.bulk_create(
        [AgentChatLoad(agent_id=a, day=d, **v) for (a, d), v in rows.items()], batch_size=5000
    )
    return len(rows)


def stored() -> dict[tuple[int, date], dict[str, Any]]:
    return {
        (r.agent_id, r.day): {
            "chats": r.chats,
            "chat_seconds": r.chat_seconds,
            "busy_seconds": r.busy_seconds,
            "peak": r.peak,
        }
        for r in AgentChatLoad.objects.all()
    }


def figures(f: Any, buckets: list[date], bucket_of: Any) -> dict[str, Any]:
    """Chats at once for the filters' period and agents: overall, per bucket of the series
    and per agent (average while chatting: chat time over busy time; peak)."""
    from kefu.staff.models import AgentProfile

    qs = AgentChatLoad.objects.filter(day__gte=f.start, day__lte=f.end)
    teams = f.allowed_teams
    if f.team is not None:
        teams = frozenset({f.team}) & teams if teams is not None else frozenset({f.team})
    if teams is not None:
        members = AgentProfile.objects.filter(teams__in=sorted(teams)).values("user_id")
        qs = qs.filter(agent_id__in=members)
    if f.agent is not None:
        qs = qs.filter(agent_id=f.agent)
    sums = {"chats": Sum("chats"), "chat": Sum("chat_seconds"), "busy": Sum("busy_seconds")}

    def mean(row: dict[str, Any]) -> float | None:
        return round(row["chat"] / row["busy"], 2) if row["busy"] else None

    per_bucket: dict[date, dict[str, Any]] = {}
    by_day: Any = qs.order_by().values("day").annotate(**sums, top=Max("peak"))
    by_agent: Any = (
        qs.order_by().values("agent_id").annotate(**sums, top=Max("peak")).filter(~Q(top=None))
    )
    for row in by_day:
        b = per_bucket.setdefault(bucket_of(row["day"]), {"chat": 0.0, "busy": 0.0, "peak": 0})
        b["chat"] += row["chat"] or 0
        b["busy"] += row["busy"] or 0
        b["peak"] = max(b["peak"], row["top"] or 0)
    agents = [
        {
            "agent_id": row["agent_id"],
            "chats": row["chats"] or 0,
            "mean": mean(row),
            "peak": row["top"],
            "hours": round((row["busy"] or 0) / 3600, 1),
        }
        for row in by_agent
    ]
    agents.sort(key=lambda a: (-(a["mean"] or 0), a["agent_id"]))
    chat = sum(b["chat"] for b in per_bucket.values())
    busy = sum(b["busy"] for b in per_bucket.values())
    return {
        "mean": round(chat / busy, 2) if busy else None,
        "peak": max((b["peak"] for b in per_bucket.values()), default=None),
        "series_mean": [mean(per_bucket[b]) if b in per_bucket else None for b in buckets],
        "series_peak": [per_bucket[b]["peak"] if b in per_bucket else None for b in buckets],
        "agents": agents,
    }
