"""Live figures (not rollups): queue, waiting chats, agents' status and load, SLA at risk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from kefu.conversations.models import OPEN_STATUSES, Conversation, Status
from kefu.livechat.models import ChatSession
from kefu.staff.models import AgentProfile


def _scope(qs: Any, teams: frozenset[int] | None, field: str = "team_id") -> Any:
    return qs if teams is None else qs.filter(**{f"{field}__in": sorted(teams)})


def tiles(teams: frozenset[int] | None) -> dict[str, int]:
    queue = _scope(
        Conversation.objects.filter(status__in=[Status.NEW, Status.OPEN], assignee__isnull=True),
        teams,
    ).count()
    waiting = _scope(
        ChatSession.objects.filter(state=ChatSession.State.QUEUED), teams, "conversation__team_id"
    ).count()
    online = _scope(
        AgentProfile.objects.filter(presence=AgentProfile.Presence.ONLINE, user__is_active=True),
        teams,
        "teams",
    )
    return {"queue": queue, "waiting": waiting, "online": online.distinct().count()}


def agents_load(teams: frozenset[int] | None) -> list[dict[str, Any]]:
    profiles = _scope(AgentProfile.objects.filter(user__is_active=True), teams, "teams").distinct()
    profiles = profiles.select_related("user").annotate(
        open_count=Count(
            "user__assigned_conversations",
            filter=Q(user__assigned_conversations__status__in=OPEN_STATUSES),
            distinct=True,
        ),
        chats_active=Count(
            "user__chat_sessions",
            filter=Q(user__chat_sessions__state=ChatSession.State.ACTIVE),
            distinct=True,
        ),
    )
    return [
        {
            "id": p.user_id,
            "name": p.name,
            "presence": p.presence,
            "presence_label": p.get_presence_display(),
            "open": p.open_count,
            "chats": p.chats_active,
            "capacity": p.capacity,
        }
        for p in profiles.order_by("display_name", "user__username")
    ]


def sla_at_risk(teams: frozenset[int] | None, hours: int = 4, limit: int = 20) -> list[Any]:
    now = timezone.now()
    soon = now + timedelta(hours=hours)
    qs = _scope(Conversation.objects.filter(status__in=OPEN_STATUSES), teams).filter(
        Q(first_responded_at__isnull=True, first_response_due__lte=soon)
        | Q(resolution_due__lte=soon)
    )
    return list(
        qs.select_related("customer", "assignee", "assignee__agent_profile").order_by(
            "first_response_due", "resolution_due"
        )[:limit]
    )
