"""Writing and reading the customer timeline (one row per thing that happened)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from kefu.core.events import current_cause
from kefu.customers.models import Customer, TimelineEntry


def record(
    customer: Customer,
    kind: str,
    /,
    *,
    actor: Any = None,
    conversation: Any = None,
    **data: Any,
) -> TimelineEntry:
    rule = current_cause().rule
    if rule and actor is None:
        data = {**data, "by_rule": rule}  # an automation rule acted: the timeline names it
    return TimelineEntry.objects.create(
        customer=customer,
        conversation=conversation,
        kind=kind,
        actor=actor if actor is not None and actor.is_authenticated else None,
        data=data,
    )


def timeline_for(
    customer: Customer, visible_conversations: QuerySet[Any]
) -> QuerySet[TimelineEntry]:
    """The customer's history as the asking agent may see it: customer-level entries and
    entries of the conversations visible to them."""
    return (
        TimelineEntry.objects.filter(customer=customer)
        .filter(Q(conversation__isnull=True) | Q(conversation__in=visible_conversations))
        .select_related("actor", "actor__agent_profile", "conversation")
    )
