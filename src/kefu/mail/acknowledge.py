"""The acknowledgment a customer gets for a new email: received, the reference, and when a
full answer can be expected, in the customer's language. Never sent to robots, lists or
ourselves (see loops.py), at most N per recipient per hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone, translation

from kefu.conversations.models import Conversation
from kefu.core.answers import confident_answers
from kefu.customers.timeline import record
from kefu.mail.models import AutoReplyLog, Mailbox
from kefu.mail.parsing import ParsedEmail

LANGUAGES = {"zh-hans", "zh-hant", "en"}


def answer_due(conversation: Conversation, mailbox: Mailbox) -> datetime:
    """When the full answer is promised: the SLA's due time once service levels set one,
    else the mailbox's configured promise."""
    if conversation.first_response_due:
        return conversation.first_response_due
    return conversation.created_at + timedelta(hours=mailbox.answer_within_hours)


def acknowledge(
    conversation: Conversation, *, mailbox: Mailbox, to: str, parsed: ParsedEmail
) -> bool:
    """Queue the acknowledgment; False when the flood limit for ``to`` is reached."""
    from kefu.mail.outbound import queue_email

    hour_ago = timezone.now() - timedelta(hours=1)
    if (
        AutoReplyLog.objects.filter(recipient=to, sent_at__gte=hour_ago).count()
        >= mailbox.max_auto_replies_per_hour
    ):
        record(
            conversation.customer,
            "acknowledgment_skipped",
            conversation=conversation,
            reason="flood limit",
        )
        return False
    content = compose(conversation, mailbox=mailbox, to=to, parsed=parsed)
    queue_email(conversation=conversation, **content.outbox)
    AutoReplyLog.objects.create(recipient=to)
    record(
        conversation.customer,
        "acknowledged",
        conversation=conversation,
        to=to,
        due=content.due.isoformat(),
    )
    return True


@dataclass
class Acknowledgment:
    outbox: dict[str, Any]  # the arguments of queue_email / outbox_row but the conversation
    due: datetime


def compose(
    conversation: Conversation,
    *,
    mailbox: Mailbox,
    to: str,
    parsed: ParsedEmail,
    with_articles: bool = True,
) -> Acknowledgment:
    """The acknowledgment's subject and text in the customer's language. ``with_articles``
    False skips the knowledge-base search (the caller knows there is no public article)."""
    language = conversation.language if conversation.language in LANGUAGES else mailbox.language
    due = timezone.localtime(answer_due(conversation, mailbox))
    context = {
        "conversation": conversation,
        "customer": conversation.customer,
        "mailbox": mailbox,
        "due": due,
        "hours": mailbox.answer_within_hours,
        "subject": parsed.subject or "",
        # Help-center articles that clearly match the question (none unless the KB is sure).
        "articles": confident_answers(f"{parsed.subject or ''}\n{parsed.text[:2000]}", language)
        if with_articles
        else [],
    }
    with translation.override(language):
        template = f"mail/acknowledgment.{language}.txt"
        body = render_to_string(template, context).strip() + "\n"
        subject_line = render_to_string(
            f"mail/acknowledgment_subject.{language}.txt", context
        ).strip()
    subject_line = " ".join(subject_line.split())[:250]
    references = " ".join(f"<{i}>" for i in [*parsed.references, parsed.message_id] if i)
    return Acknowledgment(
        outbox={
            "kind": "ack",
            "to": [to],
            "subject": subject_line,
            "body_text": body,
            "in_reply_to": f"<{parsed.message_id}>" if parsed.message_id else "",
            "references": references,
            "mailbox": mailbox,
            "auto_reply": True,
        },
        due=due,
    )
