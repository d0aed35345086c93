"""Who answers a waiting chat: the queue and the choice of agent.

A chat goes to an online agent of the widget's team with the fewest open chats below their
capacity; ties go to the agent idle longest (oldest last chat). VIP and key-account customers
are ahead of everyone else in the queue.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet

from kefu.customers.models import Customer, Tier
from kefu.livechat.models import ChatSession
from kefu.staff.models import AgentProfile

RANKS: dict[str, int] = {Tier.VIP: 2, Tier.KEY_ACCOUNT: 1}


def rank_for(customer: Customer | None) -> int:
    return RANKS.get(customer.tier, 0) if customer is not None else 0


def queue_order(queryset: QuerySet[ChatSession]) -> QuerySet[ChatSession]:
    return queryset.order_by("-rank", "queued_at", "id")


def waiting(team_id: int | None = None) -> QuerySet[ChatSession]:
    sessions = ChatSession.objects.filter(state=ChatSession.State.QUEUED)
    if team_id is not None:
        sessions = sessions.filter(conversation__team_id=team_id)
    return queue_order(sessions)


def position(session: ChatSession) -> int:
    """1-based place in the queue of the session's team."""
    ahead = ChatSession.objects.filter(state=ChatSession.State.QUEUED)
    team_id = session.conversation.team_id
    ahead = (
        ahead.filter(conversation__team__isnull=True)
        if team_id is None
        else ahead.filter(conversation__team_id=team_id)
    ).filter(
        Q(rank__gt=session.rank)
        | Q(rank=session.rank, queued_at__lt=session.queued_at)
        | Q(rank=session.rank, queued_at=session.queued_at, id__lt=session.pk)
    )
    return ahead.count() + 1


def available_agents(team_id: int | None) -> QuerySet[AgentProfile]:
    """Online agents of the team (any team when None) with room for one more chat, best
    first."""
    agents = AgentProfile.objects.filter(
        presence=AgentProfile.Presence.ONLINE, user__is_active=True
    )
    if team_id is not None:
        agents = agents.filter(teams=team_id)
    return (
        agents.annotate(
            open_chats=Count(
                "user__chat_sessions",
                filter=Q(user__chat_sessions__state=ChatSession.State.ACTIVE),
                distinct=True,
            ),
            last_chat=Max("user__chat_sessions__accepted_at"),
        )
        .filter(open_chats__lt=F("capacity"))
        .order_by("open_chats", F("last_chat").asc(nulls_first=True), "pk")
        .select_related("user")
    )


def pick_agent(team_id: int | None) -> Any:
    profile = available_agents(team_id).first()
    return profile.user if profile is not None else None


def anyone_online(team_id: int | None) -> bool:
    agents = AgentProfile.objects.filter(
        presence=AgentProfile.Presence.ONLINE, user__is_active=True
    )
    if team_id is not None:
        agents = agents.filter(teams=team_id)
    return agents.exists()


def active_chats(user: Any) -> QuerySet[ChatSession]:
    return ChatSession.objects.filter(agent=user, state=ChatSession.State.ACTIVE)
