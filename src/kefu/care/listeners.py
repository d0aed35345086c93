"""Care listens to the spine: a solved conversation queues a CSAT survey and follow-ups; a
customer writing in cancels the follow-ups not sent yet."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from django.db import connection, transaction
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
    # the database's write lock, only when there is something to cancel. The read runs for
    # every inbound message, so it is plain SQL: the ORM's building of this query cost about
    # 0.8 ms, its execution 0.01.
    pending_states = [Delivery.State.PENDING, Delivery.State.CLAIMED]
    with connection.cursor() as cursor:
        cursor.execute(
            _pending_follow_ups_sql(),
            [event.conversation_id, str(Delivery.Kind.FOLLOW_UP), *map(str, pending_states)],
        )
        pending = [row[0] for row in cursor.fetchall()]
    if not pending:
        return
    # Claimed rows too: a sender that claimed one a moment ago finds it cancelled when it
    # tries to mark it "sending", and leaves it.
    Delivery.objects.filter(pk__in=pending, state__in=pending_states).update(
        state=Delivery.State.CANCELLED, error="the customer wrote in", lease_until=None
    )


@functools.cache
def _pending_follow_ups_sql() -> str:
    """The ids of the pending or claimed follow-ups of a conversation's customer; parameters:
    the conversation's id, the follow-up kind, the two states. Only the models' own table
    and column names go into the text, quoted."""
    quote = connection.ops.quote_name
    delivery, conversation = Delivery._meta, Conversation._meta
    d_table, c_table = quote(delivery.db_table), quote(conversation.db_table)
    return (
        f"SELECT {d_table}.{quote(str(delivery.pk.column))} FROM {d_table} "  # noqa: S608
        f"WHERE {d_table}.{quote(str(delivery.get_field('customer').column))} = ("
        f"SELECT {c_table}.{quote(str(conversation.get_field('customer').column))} FROM {c_table} "
        f"WHERE {c_table}.{quote(str(conversation.pk.column))} = %s) "
        f"AND {d_table}.{quote(str(delivery.get_field('kind').column))} = %s "
        f"AND {d_table}.{quote(str(delivery.get_field('state').column))} IN (%s, %s)"
    )
