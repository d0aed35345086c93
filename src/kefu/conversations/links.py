"""Related conversations: a symmetric link (one row, lower id first), shown on both pages."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from kefu.conversations.access import can_see, visible_conversations
from kefu.conversations.models import Conversation, ConversationLink
from kefu.core.errors import ActionError
from kefu.core.events import ConversationsLinked, emit
from kefu.customers.timeline import record
from kefu.staff.access import agent_profile

MAX_LINKS = 50


def _pair(a: Conversation, b: Conversation) -> tuple[Conversation, Conversation]:
    return (a, b) if a.pk < b.pk else (b, a)


def _check(actor: Any, a: Conversation, b: Conversation) -> None:
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can link conversations")
    if a.pk == b.pk:
        raise ActionError("a conversation cannot be linked to itself")
    if not (can_see(actor, a) and can_see(actor, b)):
        raise ActionError("no such conversation")


def _emit(actor: Any, a: Conversation, b: Conversation, linked: bool) -> None:
    for this, other in ((a, b), (b, a)):
        emit(
            ConversationsLinked(
                actor_id=actor.pk,
                conversation_id=this.pk,
                team_id=this.team_id,
                assignee_id=this.assignee_id,
                other_id=other.pk,
                linked=linked,
            )
        )


def link_conversations(a: Conversation, b: Conversation, *, actor: Any) -> ConversationLink:
    """Link two conversations the actor may both see; both timelines record it."""
    _check(actor, a, b)
    low, high = _pair(a, b)
    if ConversationLink.objects.filter(Q(low=low) | Q(high=low)).count() >= MAX_LINKS:
        raise ActionError(f"a conversation has at most {MAX_LINKS} links")
    try:
        with transaction.atomic():
            link = ConversationLink.objects.create(low=low, high=high, created_by=actor)
            for this, other in ((low, high), (high, low)):
                record(
                    this.customer,
                    "conversation_linked",
                    actor=actor,
                    conversation=this,
                    other=other.reference,
                )
    except IntegrityError as exc:
        raise ActionError(f"{a.reference} and {b.reference} are already linked") from exc
    _emit(actor, low, high, True)
    return link


def unlink_conversations(a: Conversation, b: Conversation, *, actor: Any) -> None:
    _check(actor, a, b)
    low, high = _pair(a, b)
    with transaction.atomic():
        deleted, _ = ConversationLink.objects.filter(low=low, high=high).delete()
        if not deleted:
            raise ActionError(f"{a.reference} and {b.reference} are not linked")
        for this, other in ((low, high), (high, low)):
            record(
                this.customer,
                "conversation_unlinked",
                actor=actor,
                conversation=this,
                other=other.reference,
            )
    _emit(actor, low, high, False)


def linked_conversations(conversation: Conversation, user: Any) -> QuerySet[Conversation]:
    """The conversations linked to this one that ``user`` may see."""
    low_ids = ConversationLink.objects.filter(high=conversation).values("low")
    high_ids = ConversationLink.objects.filter(low=conversation).values("high")
    return (
        visible_conversations(user)
        .filter(Q(pk__in=low_ids) | Q(pk__in=high_ids))
        .select_related("customer")
        .order_by("-pk")
    )
