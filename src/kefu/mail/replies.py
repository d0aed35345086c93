"""Agents' replies by email: who they go to, how they thread, and into the outbox.

Listens to replies added on email conversations and turns each into an outbox row
(:func:`kefu.mail.outbound.queue_email`), which the background task delivers.
"""

from __future__ import annotations

import logging

from kefu.conversations.models import Channel, Conversation, Message
from kefu.core.events import MessageAdded, listen
from kefu.core.html import sanitize, text_to_html
from kefu.customers.models import ContactPoint
from kefu.mail.models import InboundEmail, Mailbox, OutboundEmail, Participant
from kefu.mail.outbound import (
    MAX_REFERENCES,
    bracketed,
    format_address,
    one_line,
    queue_email,
)
from kefu.mail.threading import PREFIX, TOKEN
from kefu.staff.models import AgentProfile

logger = logging.getLogger(__name__)


def reply_subject(conversation: Conversation) -> str:
    """``Re: <subject> [#<id>]``, with the reference token exactly once."""
    subject = one_line(TOKEN.sub(" ", conversation.subject or ""), 1000)
    while (stripped := PREFIX.sub("", subject).strip()) != subject:
        subject = stripped
    token = f"[#{conversation.pk}]"
    subject = subject[: 255 - len(token) - 5].strip()
    return f"Re: {subject} {token}" if subject else f"Re: {token}"


# The outbox ---------------------------------------------------------------------------------


def origin_mailbox(conversation: Conversation) -> Mailbox | None:
    """The mailbox the conversation's first email came through, if any."""
    first = (
        InboundEmail.objects.filter(
            conversation_message__conversation=conversation, mailbox__isnull=False
        )
        .select_related("mailbox")
        .order_by("received_at", "id")
        .first()
    )
    return first.mailbox if first is not None else None


@listen(MessageAdded)
def reply_by_email(event: MessageAdded) -> None:
    """An agent answered a conversation that came by email: send the answer by email."""
    if event.direction != Message.Direction.OUT:
        return
    # Cheap first: most replies on chat or web conversations never touch email.
    channel = (
        Conversation.objects.filter(pk=event.conversation_id)
        .values_list("channel", flat=True)
        .first()
    )
    if (
        channel != Channel.EMAIL
        and not InboundEmail.objects.filter(
            conversation_message__conversation_id=event.conversation_id
        ).exists()
        and not _answered_by_email(event.conversation_id)
    ):
        return
    message = (
        Message.objects.select_related("conversation__customer").filter(pk=event.message_id).first()
    )
    if message is None or message.outbound_emails.exists():
        return  # gone, or this event was delivered twice
    origin = origin_mailbox(message.conversation)
    if (
        message.conversation.channel != Channel.EMAIL
        and origin is None
        and not _answered_by_email(event.conversation_id)
    ):
        return
    queue_reply(message, origin=origin)


def _answered_by_email(conversation_id: int) -> bool:
    """Another channel left the answer to email (e.g. the chat widget's offline form)."""
    return Message.objects.filter(
        conversation_id=conversation_id,
        direction=Message.Direction.IN,
        metadata__reply_by="email",
    ).exists()


def queue_reply(message: Message, *, origin: Mailbox | None = None) -> OutboundEmail | None:
    """Queue the email for an agent's reply ``message``; None (and the message marked failed)
    when the customer has no email address."""
    conversation = message.conversation
    mailbox = origin if origin is not None and origin.active else None
    mailbox = mailbox or Mailbox.objects.filter(active=True).order_by("pk").first() or origin
    own = {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}
    inbound = list(
        conversation.messages.filter(direction=Message.Direction.IN, channel=Channel.EMAIL)
        .order_by("-created_at", "-id")
        .only("metadata", "external_id")[:20]
    )
    to = _customer_address(conversation, inbound, own)
    if to is None:
        Message.objects.filter(pk=message.pk).update(
            delivery=Message.Delivery.FAILED,
            delivery_error="not sent: the customer has no email address",
        )
        return None
    customer_name = conversation.customer.name or (
        inbound[0].metadata.get("from_name", "") if inbound else ""
    )
    cc = [
        (p.name, p.email)
        for p in Participant.objects.filter(conversation=conversation).order_by("id")
        if p.email.lower() not in own
    ]
    in_reply_to, references = _thread(conversation, inbound[0] if inbound else None)
    signature = ""
    if message.author_agent_id is not None:
        signature = (
            AgentProfile.objects.filter(user_id=message.author_agent_id)
            .values_list("signature", flat=True)
            .first()
            or ""
        ).strip()
    body_text = message.body_text + (f"\n\n-- \n{signature}\n" if signature else "\n")
    body_html = (
        sanitize(message.body_html) if message.body_html else text_to_html(message.body_text)
    )
    if signature:
        body_html += f'<div class="signature"><p>-- </p>{text_to_html(signature)}</div>'
    body_html = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body_html}</body></html>'
    )
    return queue_email(
        conversation=conversation,
        kind=OutboundEmail.Kind.REPLY,
        to=[(customer_name, to)],
        cc=cc,
        subject=reply_subject(conversation),
        body_text=body_text,
        body_html=body_html,
        message=message,
        in_reply_to=in_reply_to,
        references=references,
        mailbox=mailbox,
    )


def _customer_address(
    conversation: Conversation, inbound: list[Message], own: set[str]
) -> str | None:
    """The customer's address used last: the newest email from one of the customer's known
    addresses, else the newest sender, else the customer's first email address."""
    known = list(
        ContactPoint.objects.filter(customer_id=conversation.customer_id, kind="email")
        .order_by("id")
        .values_list("value", flat=True)
    )
    senders = [
        str(m.metadata.get("from") or "").lower() for m in inbound if isinstance(m.metadata, dict)
    ]
    senders = [s for s in senders if s and s not in own]
    lowered = {k.lower() for k in known}
    for candidate in [*(s for s in senders if s in lowered), *senders, *known]:
        if format_address("", candidate):
            return candidate
    return None


def _thread(conversation: Conversation, latest: Message | None) -> tuple[str, str]:
    """In-Reply-To and References for a reply: the customer's latest email and its chain, or
    (for a conversation without one) our own last email to it."""
    parent = bracketed(latest.external_id) if latest is not None else ""
    chain: list[str] = []
    if parent and latest is not None:
        earlier = latest.metadata.get("references") if isinstance(latest.metadata, dict) else []
        if isinstance(earlier, str):
            earlier = earlier.split()
        chain = [bracketed(str(i)) for i in earlier or []]
    else:
        parent = bracketed(
            OutboundEmail.objects.filter(conversation=conversation)
            .order_by("-created_at", "-id")
            .values_list("message_id", flat=True)
            .first()
            or ""
        )
    chain = list(dict.fromkeys(i for i in [*chain, parent] if i))[-MAX_REFERENCES:]
    return parent, " ".join(chain)


# Delivery -----------------------------------------------------------------------------------
