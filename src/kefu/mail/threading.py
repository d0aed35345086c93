"""Which conversation an inbound email belongs to.

In order: In-Reply-To / References (ours and the customer's earlier messages), then a
``[#<id>]`` token in the subject, then (if the mailbox allows it) the same customer's open
conversation with the same subject. Whatever matches, the sender must belong to that
conversation (its customer or a copied participant): a stranger who copies a token or forges a
reference gets a new conversation of their own.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from kefu.conversations.models import OPEN_STATUSES, Conversation, Message
from kefu.customers.models import Customer
from kefu.mail.models import Mailbox, OutboundEmail, Participant
from kefu.mail.parsing import ParsedEmail

TOKEN = re.compile(r"\[#(\d{1,12})\]")
PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|antw|回复|回覆|答复|答覆|转发|轉寄|轉發)\s*[:：]\s*|\[#\d+\]\s*)+",
    re.I,
)


def normalize_subject(subject: str) -> str:
    subject = TOKEN.sub("", subject)
    while True:
        stripped = PREFIX.sub("", subject)
        if stripped == subject:
            break
        subject = stripped
    return " ".join(subject.split()).lower()


def _forms(ids: list[str]) -> list[str]:
    return [form for i in ids if i for form in (i, f"<{i}>")]


def belongs(conversation: Conversation, customer: Customer, sender: str) -> bool:
    if conversation.customer_id == customer.pk:
        return True
    return (
        bool(sender)
        and Participant.objects.filter(conversation=conversation, email=sender).exists()
    )


def find_conversation(
    parsed: ParsedEmail, customer: Customer, mailbox: Mailbox | None, sender: str
) -> Conversation | None:
    ids = _forms([*parsed.in_reply_to, *reversed(parsed.references)])
    candidates: list[int] = []
    if ids:
        candidates += list(
            OutboundEmail.objects.filter(message_id__in=ids).values_list(
                "conversation_id", flat=True
            )
        )
        candidates += list(
            Message.objects.filter(external_id__in=ids).values_list("conversation_id", flat=True)
        )
    match = TOKEN.search(parsed.subject)
    if match:
        candidates.append(int(match.group(1)))
    for conversation_id in dict.fromkeys(candidates):
        conversation = (
            Conversation.objects.select_related("customer").filter(pk=conversation_id).first()
        )
        while conversation is not None and conversation.merged_into_id:
            conversation = conversation.merged_into
        if conversation is not None and belongs(conversation, customer, sender):
            return conversation
    if mailbox is not None and mailbox.thread_by_subject_days:
        wanted = normalize_subject(parsed.subject)
        since = timezone.now() - timedelta(days=mailbox.thread_by_subject_days)
        if wanted:
            for conversation in Conversation.objects.filter(
                customer=customer,
                channel="email",
                status__in=OPEN_STATUSES,
                last_message_at__gte=since,
            ).order_by("-last_message_at")[:20]:
                if normalize_subject(conversation.subject) == wanted:
                    return conversation
    return None
