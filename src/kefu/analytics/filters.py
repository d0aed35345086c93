"""Report filters, read from and written back to the URL; scoped by who asks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from kefu.staff.access import sees_all_teams, team_ids

PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
GRAINS = ("day", "week", "month")
DIMENSIONS = ("team", "channel", "tier", "kind", "tag", "agent")


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    period: str = "30d"
    grain: str = "day"
    team: int | None = None
    channel: str = ""
    tier: str = ""
    kind: str = ""
    tag: int | None = None  # a conversation tag: products are tags (there is no product model)
    agent: int | None = None
    allowed_teams: frozenset[int] | None = None  # None: every team

    @classmethod
    def from_params(cls, params: QueryDict, user: Any) -> Filters:
        today = timezone.localdate()
        period = params.get("period", "30d")
        start = end = None
        if period == "custom":
            try:
                start = date.fromisoformat(params.get("from", ""))
                end = date.fromisoformat(params.get("to", ""))
            except ValueError:
                period = "30d"
        if period not in PERIODS and period != "custom":
            period = "30d"
        if start is None or end is None or end < start:
            end = today
            start = today - timedelta(days=PERIODS.get(period, 30) - 1)
        grain = params.get("grain", "")
        if grain not in GRAINS:
            grain = "day" if (end - start).days <= 62 else "week"
        allowed = None if sees_all_teams(user) else frozenset(team_ids(user))
        team = _int(params.get("team"))
        if allowed is not None and team not in allowed:
            team = None  # an agent cannot ask for a team they are not in
        return cls(
            start=start,
            end=end,
            period=period,
            grain=grain,
            team=team,
            channel=params.get("channel", "")[:10],
            tier=params.get("tier", "")[:16],
            kind=params.get("kind", "")[:16],
            tag=_int(params.get("tag")),
            agent=_int(params.get("agent")),
            allowed_teams=allowed,
        )

    @property
    def dims(self) -> dict[str, str]:
        """The channel, kind and tier filters that are set."""
        return {n: getattr(self, n) for n in ("channel", "kind", "tier") if getattr(self, n)}

    def scope_q(self, prefix: str = "", facts: bool = False, table: str = "facts") -> Q:
        """The dimensions as a condition. Facts hold every dimension ("no team" and
        "unassigned" are nulls there, zeros in rollups; tags are read from the conversations);
        for the main rollup only the team (its other dimensions are read by shape, see
        ``metrics``), for the agents' rollup team and agent; for NPS answers ("nps", with
        the customer's prefix) the team."""
        facts = facts or table == "facts"
        q = Q()
        if self.allowed_teams is not None:
            q &= Q(**{f"{prefix}team_id__in": sorted(self.allowed_teams)})
        if self.team is not None:
            none = (facts or table == "nps") and self.team == 0
            q &= Q(
                **{f"{prefix}team_id__isnull": True} if none else {f"{prefix}team_id": self.team}
            )
        for name in ("channel", "tier", "kind"):
            if getattr(self, name) and facts:
                q &= Q(**{f"{prefix}{name}": getattr(self, name)})
        if self.agent is not None and table not in ("main", "nps"):
            none = facts and self.agent == 0
            q &= Q(
                **{f"{prefix}agent_id__isnull": True} if none else {f"{prefix}agent_id": self.agent}
            )
        return q

    def params(self, **changes: Any) -> dict[str, str]:
        f = replace(self, **changes) if changes else self
        out = {"period": f.period, "grain": f.grain}
        if f.period == "custom":
            out |= {"from": f.start.isoformat(), "to": f.end.isoformat()}
        for name in ("team", "channel", "tier", "kind", "tag", "agent"):
            value = getattr(f, name)
            if value not in (None, ""):
                out[name] = str(value)
        return out

    def query_string(self, **extra: Any) -> str:
        return urlencode({**self.params(), **{k: v for k, v in extra.items() if v is not None}})


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
