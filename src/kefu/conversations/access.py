"""``access_*``: fetch what the asking user may see, or fail as if it did not exist.

Agents see conversations of their teams, of no team (the general queue) and those assigned to
them; supervisors and admins see all. Customers see only their own conversations.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from kefu.conversations.models import Conversation
from kefu.customers.identity import survivor
from kefu.staff.access import agent_profile, team_ids


def portal_customer_id(user: Any) -> int | None:
    """The customer a portal user speaks for: their own record, or the one it was merged into
    (the history moved there)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    customer = getattr(user, "customer", None)
    if customer is None:
        return None
    return int(survivor(customer).pk)


def visible_conversations(user: Any) -> QuerySet[Conversation]:
    qs = Conversation.objects.all()
    profile = agent_profile(user)
    if profile is None:
        customer_id = portal_customer_id(user)
        return qs.none() if customer_id is None else qs.filter(customer_id=customer_id)
    if profile.sees_all_teams:
        return qs
    return qs.filter(Q(team__isnull=True) | Q(team_id__in=team_ids(user)) | Q(assignee_id=user.pk))


def can_see(user: Any, conversation: Conversation) -> bool:
    profile = agent_profile(user)
    if profile is None:
        customer_id = portal_customer_id(user)
        return customer_id is not None and conversation.customer_id == customer_id
    return (
        profile.sees_all_teams
        or conversation.team_id is None
        or conversation.team_id in team_ids(user)
        or conversation.assignee_id == user.pk
    )


def access_conversation(user: Any, pk: int) -> Conversation:
    """The conversation ``pk`` if ``user`` may see it; 404 otherwise (never reveals existence)."""
    try:
        conversation = Conversation.objects.select_related(
            "customer", "team", "assignee", "assignee__agent_profile"
        ).get(pk=pk)
    except Conversation.DoesNotExist as exc:
        raise Http404 from exc
    if not can_see(user, conversation):
        raise Http404
    return conversation
