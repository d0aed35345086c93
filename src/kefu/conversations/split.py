"""Split a conversation: a message and everything after it move to a new conversation of the
same customer (the customer raised a second matter in the same thread)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max, Min, Q

from kefu.conversations.models import Conversation, Message, Status
from kefu.core.errors import ActionError
from kefu.core.events import ConversationOpened, ConversationSplit, emit
from kefu.customers.timeline import record
from kefu.staff.access import agent_profile


def _ids(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "team_id": conversation.team_id,
        "assignee_id": conversation.assignee_id,
    }


def split_conversation(
    conversation: Conversation, *, actor: Any, message_id: int, subject: str = ""
) -> Conversation:
    """Move message ``message_id`` of ``conversation`` and every later one into a new
    conversation (same customer, channel, team, kind, priority, tags); both timelines say so.
    Returns the new conversation."""
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can split a conversation")
    subject = " ".join((subject or "").replace("\x00", "").split())[:255]
    with transaction.atomic():
        source = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if source.status == Status.CLOSED:
            raise ActionError("a closed conversation cannot be split")
        pivot = Message.objects.filter(pk=message_id, conversation=source).first()
        if pivot is None:
            raise ActionError("that message is not in this conversation")
        later = Q(created_at__gt=pivot.created_at) | Q(
            created_at=pivot.created_at, pk__gte=pivot.pk
        )
        moving = source.messages.filter(later)
        if not source.messages.exclude(later).exists():
            raise ActionError("split from a later message: the first one stays where it is")
        moved_ids = list(moving.values_list("pk", flat=True))
        stats = moving.aggregate(
            last=Max("created_at"),
            last_in=Max("created_at", filter=Q(direction=Message.Direction.IN)),
            first_out=Min("created_at", filter=Q(direction=Message.Direction.OUT)),
        )
        new = Conversation.objects.create(
            customer=source.customer,
            channel=source.channel,
            subject=subject or source.subject,
            status=Status.OPEN if stats["first_out"] else Status.NEW,
            priority=source.priority,
            kind=source.kind,
            team=source.team,
            assignee=source.assignee,
            language=source.language,
            split_from=source,
            last_message_at=stats["last"],
            last_inbound_at=stats["last_in"],
            first_responded_at=stats["first_out"],
        )
        new.tags.add(*source.tags.all())
        Message.objects.filter(pk__in=moved_ids).update(conversation=new)
        remaining = source.messages.aggregate(
            last=Max("created_at"),
            last_in=Max("created_at", filter=Q(direction=Message.Direction.IN)),
        )
        source.last_message_at = remaining["last"]
        source.last_inbound_at = remaining["last_in"]
        source.save(update_fields=["last_message_at", "last_inbound_at", "updated_at"])
        record(
            source.customer,
            "conversation_split",
            actor=actor,
            conversation=source,
            new_ref=new.reference,
            new_id=new.pk,
            count=len(moved_ids),
        )
        record(
            new.customer,
            "conversation_split_from",
            actor=actor,
            conversation=new,
            source=source.reference,
            source_id=source.pk,
            count=len(moved_ids),
        )
    emit(
        ConversationOpened(
            actor_id=actor.pk, customer_id=new.customer_id, channel=new.channel, **_ids(new)
        )
    )
    emit(
        ConversationSplit(
            actor_id=actor.pk, new_id=new.pk, message_ids=tuple(moved_ids), **_ids(source)
        )
    )
    return new
