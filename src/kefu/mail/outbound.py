"""Email kefu sends: the outbox, delivery with retries, bounces (replies: see replies.py).

Every email is first a row in the outbox (:class:`OutboundEmail`), written in the caller's
transaction; a background task delivers it after commit. Delivery is at most once: the row is
marked ``sending`` and committed *before* the message is handed to the SMTP server, so a worker
that dies after the server accepted the message leaves a ``sending`` row behind, and a later
attempt marks that row "delivery uncertain" instead of sending a second copy. Temporary
failures (4xx, refused or dropped connections) go back to ``queued`` with a growing delay;
permanent refusals (5xx) fail at once, with the server's reason shown on the message.
"""

from __future__ import annotations

import functools
import logging
import re
import smtplib
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from email.utils import parseaddr
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kefu.conversations.models import Conversation, Message
from kefu.core import bulk
from kefu.mail.models import Mailbox, OutboundEmail
from kefu.mail.parsing import one_line as header_line

logger = logging.getLogger(__name__)

State = OutboundEmail.State
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# How long a "sending" row may stay so before the retry job declares its delivery uncertain.
SENDING_LEASE = timedelta(minutes=15)
UNCERTAIN = "delivery uncertain: a previous attempt was interrupted; check before resending"
MAX_REFERENCES = 20
_KINDS = frozenset(OutboundEmail.Kind.values)

_ADDRESS = re.compile(r"^[^\s@<>\"(),;:\\\[\]]+@[^\s@<>\"(),;:\\\[\]]+$")
_MSGID = re.compile(r"^[^\s<>]+@[^\s<>]+$")


# Header hygiene ---------------------------------------------------------------------------


def one_line(text: str, limit: int = 255) -> str:
    """``text`` as one header-safe line (the parser's rule), at most ``limit`` characters."""
    return header_line(text or "", limit)


def format_address(name: str, address: str) -> str | None:
    """``"Name" <address>`` (or the bare address), or None if ``address`` is not one."""
    address = one_line(address, 254)
    if not _ADDRESS.match(address):
        return None
    name = one_line(name, 100).replace("\\", "").replace('"', "'")
    return f'"{name}" <{address}>' if name else address


def _addresses(entries: Iterable[str | tuple[str, str]], exclude: set[str]) -> list[str]:
    result = []
    for entry in entries:
        name, address = entry if isinstance(entry, tuple) else parseaddr(one_line(entry, 400))
        formatted = format_address(name, address)
        if formatted and address.lower() not in exclude:
            exclude.add(address.lower())
            result.append(formatted)
    return result


def bracketed(message_id: str) -> str:
    """A Message-ID as it goes in a header (``<id>``), or "" if it is not a usable one."""
    bare = one_line(message_id, 990).strip("<> ")
    return f"<{bare}>" if _MSGID.match(bare) else ""


@functools.lru_cache(maxsize=256)  # a handful of mailbox addresses, asked for every email
def domain_of(address: str) -> str:
    return (parseaddr(address)[1].rpartition("@")[2] or "localhost").lower()


def queue_email(
    *,
    conversation: Conversation,
    kind: str,
    to: Sequence[str | tuple[str, str]],
    subject: str,
    body_text: str,
    body_html: str = "",
    message: Message | None = None,
    cc: Sequence[str | tuple[str, str]] = (),
    in_reply_to: str = "",
    references: str = "",
    mailbox: Mailbox | None = None,
    auto_reply: bool = False,
) -> OutboundEmail:
    """Put an email in the outbox; it is sent by a background task once the caller commits.

    ``to``/``cc`` hold addresses, ``"Name" <address>`` strings or ``(name, address)`` pairs.
    Names, subject and threading headers are flattened to one line (no header injection).
    Automatic replies (``auto_reply``) are acknowledgments: ``kind`` must be ``"ack"``.
    """
    outbound = outbox_row(
        conversation=conversation,
        kind=kind,
        to=to,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        message=message,
        cc=cc,
        in_reply_to=in_reply_to,
        references=references,
        mailbox=mailbox,
        auto_reply=auto_reply,
    )
    # No savepoint of its own: a failure here aborts the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        outbound.save(force_insert=True)
        if message is not None:
            # Delivery bookkeeping, not a change of the conversation: no action, no event.
            Message.objects.filter(pk=message.pk).update(
                delivery=Message.Delivery.QUEUED, delivery_error=""
            )
        if _queue_in_database():
            _enqueue(outbound.pk)  # the task row commits with the outbox row, or neither does
        else:
            transaction.on_commit(partial(_enqueue, outbound.pk), robust=True)
    return outbound


def outbox_row(
    *,
    conversation: Conversation,
    kind: str,
    to: Sequence[str | tuple[str, str]],
    subject: str,
    body_text: str,
    body_html: str = "",
    message: Message | None = None,
    cc: Sequence[str | tuple[str, str]] = (),
    in_reply_to: str = "",
    references: str = "",
    mailbox: Mailbox | None = None,
    auto_reply: bool = False,
) -> OutboundEmail:
    """The outbox row :func:`queue_email` writes, validated and not saved yet."""
    if kind not in _KINDS:
        raise ValueError(f"unknown outbound email kind {kind!r}")
    if auto_reply and kind != OutboundEmail.Kind.ACKNOWLEDGMENT:
        raise ValueError("automatic replies are acknowledgments (kind 'ack')")
    seen: set[str] = set()
    recipients = _addresses(to, seen)
    if not recipients:
        raise ValueError("an email needs at least one valid recipient")
    copies = _addresses(cc, seen)
    from_address = one_line(mailbox.address, 320) if mailbox else settings.DEFAULT_FROM_EMAIL
    chain = [bracketed(i) for i in one_line(references, 20_000).split()]
    references = " ".join([i for i in chain if i][-MAX_REFERENCES:])
    return OutboundEmail(
        kind=kind,
        conversation=conversation,
        conversation_message=message,
        mailbox=mailbox,
        message_id=f"<kefu.{uuid.uuid4().hex}@{domain_of(from_address)}>",
        from_address=from_address,
        to=recipients,
        cc=copies,
        subject=one_line(subject) or "(no subject)",
        body_text=body_text,
        body_html=body_html,
        in_reply_to=bracketed(in_reply_to),
        references=references,
    )


def queue_many(rows: Sequence[OutboundEmail]) -> None:
    """Write outbox rows from :func:`outbox_row` (without a conversation message) with one
    INSERT, and their delivery tasks: with the database queue in the same transaction (one
    INSERT too), with any other backend after the caller commits."""
    if not rows:
        return
    with transaction.atomic(savepoint=False):
        bulk.insert(rows)
        ids = [row.pk for row in rows]
        if _queue_in_database():
            _enqueue_in_database(ids)
        else:
            for pk in ids:
                transaction.on_commit(partial(_enqueue, pk), robust=True)


def _enqueue_in_database(ids: Sequence[int]) -> None:
    """``send_outbound.enqueue(pk)`` for each id, as one INSERT of the database queue's rows
    (the fields its ``enqueue`` writes)."""
    from django_tasks.utils import normalize_json
    from django_tasks_db.models import DBTaskResult, get_date_max

    from kefu.mail.tasks import send_outbound

    backend: Any = send_outbound.get_backend()  # a DatabaseBackend (_queue_in_database)
    bulk.insert(
        [
            DBTaskResult(
                id=backend._get_id(),
                args_kwargs=normalize_json({"args": (pk,), "kwargs": {}}),
                priority=send_outbound.priority,
                task_path=send_outbound.module_path,
                queue_name=send_outbound.queue_name,
                # the queue's pre_save signal, which bulk_create does not send: "not before"
                run_after=send_outbound.run_after or get_date_max(),
                backend_name=backend.alias,
            )
            for pk in ids
        ]
    )


def _queue_in_database() -> bool:
    """True when the task queue is kefu's database (the embedded default): its task row can
    be written in the caller's transaction, and no worker sees it before the outbox row. Any
    other backend (the immediate one in tests, a broker) is handed the task after the commit,
    or its worker could look for the outbox row before it exists."""
    from django_tasks_db.backend import DatabaseBackend

    from kefu.mail.tasks import send_outbound

    return isinstance(send_outbound.get_backend(), DatabaseBackend)


def _enqueue(outbound_id: int) -> None:
    from kefu.mail.tasks import send_outbound

    send_outbound.enqueue(outbound_id)


# Agents' replies ----------------------------------------------------------------------------


def deliver(outbound_id: int) -> str:
    """Try to send one outbox row, at most once; returns the row's state afterwards."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            OutboundEmail.objects.select_for_update(of=("self",))
            .select_related("conversation_message", "mailbox")
            .filter(pk=outbound_id)
            .first()
        )
        if row is None:
            return "missing"
        if row.state in (State.SENT, State.FAILED):
            return row.state
        if row.state == State.SENDING:
            _fail(row, UNCERTAIN)
            return State.FAILED
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            return row.state  # a retry that is not due yet (enqueued twice)
        row.state = State.SENDING
        row.attempts += 1
        row.next_attempt_at = now + SENDING_LEASE
        row.save(update_fields=["state", "attempts", "next_attempt_at"])
    # Committed: from here on a crash leaves the row "sending", and it is never sent again.
    try:
        email = build_email(row)
    except Exception as exc:
        logger.exception("could not build outbound email #%s", row.pk)
        _fail(row, f"could not build the email: {exc}")
        return State.FAILED
    try:
        sent = _send(email)
    except smtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(
            f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
        )
        _fail(row, f"refused by the mail server: {reasons}")
        return State.FAILED
    except smtplib.SMTPResponseException as exc:
        reason = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        # 5xx refuses this message for good; a 5xx greeting or login is our setup's problem.
        permanent = exc.smtp_code >= 500 and not isinstance(
            exc, smtplib.SMTPAuthenticationError | smtplib.SMTPConnectError
        )
        if permanent:
            _fail(row, f"refused by the mail server: {reason}")
            return State.FAILED
        return _retry(row, reason)
    except (smtplib.SMTPException, OSError) as exc:
        return _retry(row, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        # Not a network error, so we cannot know whether the server got it: never resend.
        logger.exception("unexpected error sending outbound email #%s", row.pk)
        _fail(row, f"{UNCERTAIN} ({type(exc).__name__}: {exc})")
        return State.FAILED
    if not sent:
        _fail(row, "the mail backend sent nothing (no recipients?)")
        return State.FAILED
    _record_sent(row)
    return State.SENT


def build_email(row: OutboundEmail) -> EmailMultiAlternatives:
    domain = domain_of(row.from_address)
    headers = {"Message-ID": row.message_id, "X-Kefu-Loop": domain}
    if row.in_reply_to:
        headers["In-Reply-To"] = row.in_reply_to
    if row.references:
        headers["References"] = row.references
    if row.kind == OutboundEmail.Kind.ACKNOWLEDGMENT:
        headers["Auto-Submitted"] = "auto-replied"  # RFC 3834: robots must not answer it
        headers["X-Auto-Response-Suppress"] = "All"
    from_header = row.from_address
    if row.mailbox is not None and row.mailbox.address == row.from_address:
        from_header = format_address(row.mailbox.name, row.from_address) or row.from_address
    email = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=from_header,
        to=list(row.to),
        cc=list(row.cc),
        headers=headers,
    )
    if row.body_html:
        email.attach_alternative(row.body_html, "text/html")
    if row.conversation_message is not None:
        for attachment in row.conversation_message.attachments.all():
            with attachment.file.open("rb") as handle:
                email.attach(attachment.filename, handle.read(), attachment.content_type)
    email.message()  # header errors surface here, before anything goes on the wire
    return email


def _send(email: EmailMultiAlternatives) -> int:
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
        return int(connection.send_messages([email]) or 0)
    finally:
        try:
            connection.close()
        except Exception:  # the message is already accepted; QUIT failing changes nothing
            logger.warning("closing the SMTP connection failed", exc_info=True)


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return one_line(text, 500)


def _record_sent(row: OutboundEmail) -> None:
    with transaction.atomic():
        # Unconditionally: the server has the message, whatever a concurrent attempt recorded.
        OutboundEmail.objects.filter(pk=row.pk).update(
            state=State.SENT, sent_at=timezone.now(), next_attempt_at=None, last_error=""
        )
        _mirror(row, Message.Delivery.SENT, "")


def _retry(row: OutboundEmail, reason: str) -> str:
    if row.attempts >= MAX_ATTEMPTS:
        _fail(row, f"gave up after {row.attempts} attempts; last error: {reason}")
        return State.FAILED
    when = timezone.now() + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
    logger.info("outbound email #%s: %s; retrying at %s", row.pk, reason, when)
    with transaction.atomic():
        requeued = OutboundEmail.objects.filter(pk=row.pk, state=State.SENDING).update(
            state=State.QUEUED, next_attempt_at=when, last_error=reason[:2000]
        )
        if requeued:  # else a concurrent attempt has already settled the row
            _mirror(row, Message.Delivery.QUEUED, f"attempt {row.attempts} failed: {reason}")
    return State.QUEUED


def _fail(row: OutboundEmail, reason: str) -> None:
    logger.warning("outbound email #%s failed: %s", row.pk, reason)
    with transaction.atomic():
        OutboundEmail.objects.filter(pk=row.pk).update(
            state=State.FAILED, next_attempt_at=None, last_error=reason[:2000]
        )
        _mirror(row, Message.Delivery.FAILED, reason)


def _mirror(row: OutboundEmail, delivery: str, error: str) -> None:
    """Show the outbox state on the conversation's message (replies only)."""
    if row.conversation_message_id is not None:
        Message.objects.filter(pk=row.conversation_message_id).update(
            delivery=delivery, delivery_error=error[:2000]
        )


def due_ids(limit: int = 500) -> list[int]:
    """Rows the retry job must look at: queued rows whose retry is due (or whose first enqueue
    was lost), and "sending" rows abandoned by a dead worker (marked uncertain, not resent)."""
    now = timezone.now()
    return list(
        OutboundEmail.objects.filter(
            Q(state=State.QUEUED, next_attempt_at__lte=now)
            | Q(state=State.QUEUED, next_attempt_at=None, created_at__lt=now - timedelta(minutes=1))
            | Q(state=State.SENDING, next_attempt_at__lte=now)
        )
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )


# Bounces ------------------------------------------------------------------------------------

# Other apps that send mail of their own (care's campaigns and surveys) hear of bounces for
# Message-IDs that are not in the outbox: ``handler(message_id, reason) -> bool`` (True: ours).
bounce_handlers: list[Callable[[str, str], bool]] = []


def mark_bounced(original_message_id: str, reason: str) -> bool:
    """A delivery status notification says our message ``original_message_id`` (with or
    without <>) did not arrive: mark it failed with ``reason``. True if it was ours."""
    wanted = bracketed(original_message_id)
    if not wanted:
        return False
    with transaction.atomic():
        row = (
            OutboundEmail.objects.select_for_update(of=("self",))
            .select_related("conversation_message", "mailbox")
            .filter(message_id__in=[wanted, wanted.strip("<>")])
            .first()
        )
        if row is None:
            return any(handler(wanted, reason) for handler in bounce_handlers)
        _fail(row, f"bounced: {one_line(reason, 1900)}".strip())
    return True
