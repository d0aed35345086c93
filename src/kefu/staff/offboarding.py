"""Offboarding: an agent leaves, their work stays with the company."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kefu.core.errors import ActionError
from kefu.core.events import AgentDeactivated, emit
from kefu.customers.models import Customer
from kefu.customers.timeline import record
from kefu.staff.access import agent_profile


def deactivate_agent(agent: Any, *, actor: Any, successor: Any = None) -> list[int]:
    """Deactivate ``agent``; hand their open conversations and owned customers to
    ``successor`` or, without one, back to their team's queue. Returns the conversation ids
    that were reassigned. The history (messages, notes, timeline) keeps the agent's name."""
    from kefu.conversations import actions as conversation_actions
    from kefu.conversations.models import OPEN_STATUSES, Conversation

    if agent_profile(agent) is None:
        raise ActionError(f"{agent} is not an active agent")
    if successor is not None:
        if successor.pk == agent.pk:
            raise ActionError("an agent cannot succeed themselves")
        if agent_profile(successor) is None:
            raise ActionError(f"{successor} is not an active agent")
    profile = agent.agent_profile
    home_team = profile.teams.order_by("pk").first()
    reassigned: list[int] = []
    with transaction.atomic():
        for conversation in Conversation.objects.filter(
            assignee=agent, status__in=OPEN_STATUSES
        ).select_related("customer"):
            team = conversation.team
            if (
                successor is not None
                and team is not None
                and not (
                    agent_profile(successor).sees_all_teams  # type: ignore[union-attr]
                    or successor.agent_profile.teams.filter(pk=team.pk).exists()
                )
            ):
                new_assignee = None  # the successor is not in that team: back to its queue
            else:
                new_assignee = successor
            conversation_actions.assign(conversation, actor=actor, assignee=new_assignee, team=team)
            reassigned.append(conversation.pk)
        for customer in Customer.objects.filter(owner=agent):
            customer.owner = successor
            if successor is None and customer.team_id is None:
                customer.team = home_team
            customer.save(update_fields=["owner", "team", "updated_at"])
            record(
                customer,
                "owner_changed",
                actor=actor,
                old=profile.name,
                new=agent_profile(successor).name if successor else "",  # type: ignore[union-attr]
                team=customer.team.name if customer.team else "",
            )
        agent.is_active = False
        agent.save(update_fields=["is_active"])
        profile.presence = profile.Presence.OFFLINE
        profile.save(update_fields=["presence"])
    emit(
        AgentDeactivated(
            actor_id=getattr(actor, "pk", None),
            agent_id=agent.pk,
            successor_id=getattr(successor, "pk", None),
            reassigned=tuple(reassigned),
        )
    )
    return reassigned
