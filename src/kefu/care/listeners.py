"""Care listens to the spine: a solved conversation queues a CSAT survey and follow-ups; a
customer writing in cancels the follow-ups not sent yet."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from kefu.care.consent import email_of
from kefu.care.models import Delivery, FollowUpRule, Purpose
from kefu.conversations.models import Conversation
from kefu.core.events import MessageAdded, StatusChanged, listen

logger = logging.getLogger(__name__)

SOLVED = "solved"


@listen(StatusChanged)
def on_solved(event: StatusChanged) -> None:
    if event.new != SOLVED or event.old == "closed":
        return
    conversation = (
        Conversation.objects.select_related("customer", "team")
        .filter(pk=event.conversation_id)
        .first()
    )
    if conversation is None:
        return
    from kefu.care.surveys import queue_csat

    try:
        queue_csat(conversation)
        schedule_follow_ups(conversation)
    except Exception:  # a survey must never break solving a conversation
        logger.exception("care: could not queue the survey for conversation %s", conversation.pk)


def schedule_follow_ups(conversation: Conversation) -> int:
    rules = [
        r
        for r in FollowUpRule.objects.filter(active=True)
        if not r.kinds or conversation.kind in r.kinds
    ]
    if not rules:
        return 0
    address = email_of(conversation.customer)
    if not address:
        return 0
    now = timezone.now()
    stamp = int(now.timestamp())
    rows = [
        Delivery(
            key=f"followup:{rule.pk}:{conversation.pk}:{stamp}",
            kind=Delivery.Kind.FOLLOW_UP,
            purpose=Purpose.SERVICE,
            customer=conversation.customer,
            conversation=conversation,
            template=rule.template,
            address=address,
            due_at=now + timedelta(days=rule.days),
        )
        for rule in rules
    ]
    with transaction.atomic():
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@listen(MessageAdded)
def on_customer_wrote(event: MessageAdded) -> None:
    """The customer wrote in: "is the repair holding up?" would be out of place now."""
    if event.direction != "in":
        return
    # One read in the common case (nothing pending for this customer): the write, which takes
    # the database's write lock, only when there is something to cancel.
    pending = list(
        Delivery.objects.filter(
            customer_id=Subquery(
                Conversation.objects.filter(pk=event.conversation_id).values("customer_id")[:1]
            ),
            kind=Delivery.Kind.FOLLOW_UP,
            state__in=[Delivery.State.PENDING, Delivery.State.CLAIMED],
        ).values_list("pk", flat=True)
    )
    if not pending:
        return
    # Claimed rows too: a sender that claimed one a moment ago finds it cancelled when it
    # tries to mark it "sending", and leaves it.
    Delivery.objects.filter(
        pk__in=pending,
        state__in=[Delivery.State.PENDING, Delivery.State.CLAIMED],
    ).update(state=Delivery.State.CANCELLED, error="the customer wrote in", lease_until=None)
