"""The one way email comes in: IMAP, the SMTP listener and the pipe command all call
:func:`ingest`.

1. The raw bytes are stored first (storage, keyed by their SHA-256) in their own transaction:
   from then on nothing can be lost, and the same bytes delivered twice are one message.
2. Then the message is parsed and handed to the conversation actions in a second transaction
   that processes the stored row exactly once (a row lock and its state), so a worker killed
   half-way re-does the work once after restart and never twice.
3. A message kefu cannot read still becomes a conversation, with the raw source attached and a
   note saying what went wrong.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import posixpath
import time
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from kefu.conversations import actions
from kefu.core.errors import ActionError
from kefu.core.text import detect_language
from kefu.customers.actions import resolve_customer
from kefu.mail.loops import automatic_reason
from kefu.mail.models import InboundEmail, Mailbox, Participant
from kefu.mail.parsing import ParsedEmail, parse
from kefu.mail.quotes import split_quoted
from kefu.mail.threading import find_conversation

logger = logging.getLogger(__name__)


class StorageError(Exception):
    """The raw message could not be stored: the sender (MTA, IMAP poller) must retry."""


class IngestError(Exception):
    """The message was stored but could not be turned into a conversation at all."""


def ingest(raw: bytes, *, mailbox: Mailbox | None = None, source: str = "pipe") -> InboundEmail:
    record, created = store(raw, mailbox=mailbox, source=source)
    if created:
        if not _process_new(record, raw):
            record.refresh_from_db()  # the fallback wrote it
    elif record.state == InboundEmail.State.STORED:
        process(record.pk, raw)
        record.refresh_from_db()
    return record


def store(raw: bytes, *, mailbox: Mailbox | None, source: str) -> tuple[InboundEmail, bool]:
    """Keep the raw bytes (once per content hash). Raises StorageError if that fails."""
    digest = hashlib.sha256(raw).hexdigest()
    record = InboundEmail(sha256=digest, size=len(raw), source=source[:10], mailbox=mailbox)
    try:
        # New bytes are the rule: write, and let the unique hash catch the same bytes again
        # (a re-delivery then costs a file written and removed instead of every message a
        # look-up).
        if not _write_raw_file(record, raw):
            existing = InboundEmail.objects.filter(sha256=digest).first()
            if existing is not None:  # the same bytes again: nothing to write
                return existing, False
            record.raw.save(f"{digest}.eml", ContentFile(raw), save=False)
        try:
            _insert(record)
        except IntegrityError:
            record.raw.delete(save=False)
            return InboundEmail.objects.get(sha256=digest), False
        return record, True
    except (OSError, DatabaseError) as exc:
        logger.exception("could not store an inbound email (%d bytes)", len(raw))
        raise StorageError(str(exc)) from exc


def _write_raw_file(record: InboundEmail, raw: bytes) -> bool:
    """Write the raw bytes where ``record.raw.save(f"{sha256}.eml", …)`` would, with the
    system calls that needs (create, write, close) and none of the storage API's others: on
    a burst of mail they cost more than the rest of storing. Only for the file system
    storage as Django ships it, under its own name; False when the storage's own ``save`` must
    do it (another or a customised storage, a folder not made yet, or a file of that name
    already there: the same bytes again, or left by a crash)."""
    field = record.raw.field
    storage: Any = field.storage
    if callable(field.upload_to) or not _plain_file_system(storage):
        return False
    name = posixpath.join(
        datetime.datetime.now().strftime(str(field.upload_to)), f"{record.sha256}.eml"
    )
    path = storage.path(name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except (FileNotFoundError, FileExistsError):
        return False
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        if storage.file_permissions_mode is not None:
            os.fchmod(fd, storage.file_permissions_mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.remove(path)
        raise
    os.close(fd)
    stored: Any = record.raw
    stored.name = name
    stored._committed = True  # what FieldFile.save leaves: the file is in the storage
    return True


def _plain_file_system(storage: Any) -> bool:
    """The file system storage with Django's own ``save`` and ``_save`` (not a subclass or
    an instance that changes how files are written)."""
    return (
        isinstance(storage, FileSystemStorage)
        and getattr(storage.save, "__func__", None) is Storage.save
        and getattr(storage._save, "__func__", None) is FileSystemStorage._save  # type: ignore[attr-defined]
    )


_INSERTS: dict[tuple[str, type], tuple[str, list[Any]]] = {}


def _insert(record: InboundEmail) -> None:
    """``record.save(force_insert=True)`` in its own transaction (a savepoint inside an outer
    one), as one prepared ``INSERT … RETURNING``: the ORM's building of that statement cost
    more than its execution and the commit together."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each ``connection.…`` is a thread-local look-up
    if not db.features.can_return_columns_from_insert:
        with transaction.atomic():
            record.save(force_insert=True)
        return
    key = (db.vendor, type(record))
    if key not in _INSERTS:
        meta = record._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        quote = db.ops.quote_name
        # Only the model's own table and column names go into the text; values are parameters.
        _INSERTS[key] = (
            f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(str(f.column)) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"RETURNING {quote(str(meta.pk.column))}",
            fields,
        )
    sql, fields = _INSERTS[key]
    params = [f.get_db_prep_save(f.pre_save(record, True), db) for f in fields]
    # Alone, the statement is its own transaction; inside another, a savepoint keeps a
    # unique-hash conflict from breaking the outer one.
    within = transaction.atomic() if db.in_atomic_block else contextlib.nullcontext()
    with within, db.cursor() as cursor:
        cursor.execute(sql, params)
        record.pk = cursor.fetchone()[0]
    record._state.adding = False
    record._state.db = DEFAULT_DB_ALIAS


def process(record_id: int, raw: bytes | None = None) -> None:
    """Turn a stored message into conversation messages, exactly once."""
    try:
        with transaction.atomic():
            record = (
                InboundEmail.objects.select_for_update(of=("self",))
                .select_related("mailbox")
                .get(pk=record_id)
            )
            if record.state != InboundEmail.State.STORED:
                return  # already processed (a retry after a crash, or a concurrent worker)
            if raw is None:
                with record.raw.open("rb") as handle:
                    raw = handle.read()
            _relax_commit()
            parsed = _parse_within_cap(raw)
            _process(record, parsed)
    except Exception as exc:
        logger.exception("could not process inbound email #%s", record_id)
        _fallback(record_id, exc)


def _process_new(record: InboundEmail, raw: bytes) -> bool:
    """:func:`process` for the row :func:`store` has just written, with the instance and the
    bytes in hand: no re-reading. The row is still claimed under a lock (the UPDATE), so a
    concurrent ``reprocess_pending`` cannot process it too. False when the fallback ran."""
    try:
        with transaction.atomic():
            claimed = InboundEmail.objects.filter(
                pk=record.pk, state=InboundEmail.State.STORED
            ).update(processed_at=timezone.now())
            if not claimed:
                record.refresh_from_db()
                return True  # processed meanwhile by another worker
            _relax_commit()
            _process(record, _parse_within_cap(raw))
        return True
    except Exception as exc:
        logger.exception("could not process inbound email #%s", record.pk)
        _fallback(record.pk, exc)
        return False


def _relax_commit() -> None:
    """On PostgreSQL, do not wait for the processing commit to reach the disk.

    Safe by construction: the raw message is already durable (:func:`store` committed it
    normally), and a processing commit lost in a server crash leaves the row ``stored``, which
    ``reprocess_pending`` processes again, exactly once. Nothing outside the database acts on
    this transaction before a later synchronous commit flushes it too: an outbox row is marked
    ``sending`` and committed synchronously before its mail is handed to SMTP, and that commit
    flushes every earlier one. SQLite (WAL, ``synchronous=NORMAL``) does not wait anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _parse_within_cap(raw: bytes) -> ParsedEmail:
    """Parse the message, or only its headers when it is larger than kefu reads in memory
    (KEFU_MAX_PARSE_BYTES): the original stays downloadable, and agents get a clear note."""
    limit = settings.KEFU_MAX_PARSE_BYTES
    if len(raw) <= limit:
        return parse(raw, max_attachment_bytes=settings.KEFU_MAX_ATTACHMENT_BYTES)
    end = raw.find(b"\r\n\r\n", 0, 256 * 1024)
    if end < 0:
        end = raw.find(b"\n\n", 0, 256 * 1024)
    head = raw[: end if end >= 0 else 64 * 1024]
    parsed = parse(head + b"\r\n\r\n", max_attachment_bytes=0)
    parsed.text = (
        f"(This email is {len(raw) / 1e6:.1f} MB, more than the {limit / 1e6:.0f} MB kefu reads. "
        "Download the original email to read it.)"
    )
    parsed.html = ""
    parsed.attachments = []
    parsed.defects.append(f"message of {len(raw):,} bytes not read beyond its headers")
    return parsed


_OWN_TTL = 30.0  # seconds another process's mailbox change may take to be seen here
_own_cache: tuple[float, frozenset[str]] | None = None


def _own_addresses() -> frozenset[str]:
    """Our mailbox addresses (lower case), read at most every ``_OWN_TTL`` seconds; a change
    saved in this process is seen at once (``forget_own_addresses``, on Mailbox signals)."""
    global _own_cache
    now = time.monotonic()
    if _own_cache is None or now - _own_cache[0] > _OWN_TTL:
        addresses = Mailbox.objects.order_by().values_list("address", flat=True)
        _own_cache = (now, frozenset(a.lower() for a in addresses))
    return _own_cache[1]


def forget_own_addresses(**_kwargs: Any) -> None:
    global _own_cache
    _own_cache = None


post_save.connect(forget_own_addresses, sender=Mailbox, dispatch_uid="mail-own-addresses")
post_delete.connect(forget_own_addresses, sender=Mailbox, dispatch_uid="mail-own-addresses-del")


# Reports the mail channel itself does not read, read by other apps (care: complaint / ARF
# feedback reports). ``handler(record, parsed) -> str``: a non-empty detail if it was one.
report_handlers: list[Any] = []


def _process(record: InboundEmail, parsed: ParsedEmail) -> None:
    mailbox = record.mailbox
    own = _own_addresses()
    record.message_id = parsed.message_id[:998]
    record.sender = (parsed.reply_to or parsed.from_address)[:254]
    record.subject = parsed.subject[:255]
    record.processed_at = timezone.now()
    fields = ["message_id", "sender", "subject", "processed_at", "state", "detail"]

    for handler in report_handlers:
        detail = handler(record, parsed)
        if detail:
            record.state = InboundEmail.State.BOUNCE
            record.detail = detail
            record.save(update_fields=fields)
            return

    if parsed.delivery_status is not None:
        from kefu.mail.outbound import mark_bounced

        status = parsed.delivery_status
        found = mark_bounced(
            status.original_message_id,
            f"{status.status} {status.recipient}: {status.diagnostic}".strip(),
        )
        record.state = InboundEmail.State.BOUNCE
        record.detail = "bounce for our message" if found else "bounce for an unknown message"
        record.save(update_fields=fields)
        return

    if parsed.message_id:
        earlier = list(
            InboundEmail.objects.filter(
                message_id=record.message_id, state=InboundEmail.State.INGESTED
            )
            .exclude(pk=record.pk)
            .order_by()
            .values_list("pk", flat=True)[:1]
        )
        if earlier:
            record.state = InboundEmail.State.DUPLICATE
            record.detail = f"same Message-ID as inbound email #{earlier[0]}"
            record.message_id = record.message_id  # kept for the audit trail
            record.save(update_fields=fields)
            return

    sender = record.sender
    if sender in own:
        record.state = InboundEmail.State.IGNORED
        record.detail = "sent from one of our own addresses (mail loop)"
        record.save(update_fields=fields)
        return

    customer = _sender_customer(sender, parsed.from_name, record)
    auto = automatic_reason(parsed, own)
    shown, quoted = split_quoted(parsed.text)
    body_text = shown or parsed.text
    body_html = "" if quoted else parsed.html
    problems = list(parsed.defects)
    if not body_text.strip() and not body_html.strip():
        body_text = "(empty message)" if not parsed.attachments else "(attachments only)"
    attachments = [
        actions.NewAttachment(a.filename, a.content, a.content_type) for a in parsed.attachments
    ]
    metadata: dict[str, Any] = {
        "from": sender,
        "from_name": parsed.from_name,
        "to": [addr for _name, addr in parsed.to],
        "cc": [addr for _name, addr in parsed.cc],
        "message_id": parsed.message_id,
        "references": [*parsed.references, *parsed.in_reply_to][-20:],
        "inbound_email": record.pk,
        "automatic": auto or "",
        "quoted": quoted[:20000],
        "oversized": [{"filename": n, "size": s} for n, s in parsed.oversized],
        "cid": {a.content_id: a.filename for a in parsed.attachments if a.content_id},
    }
    conversation = find_conversation(parsed, customer, mailbox, sender)
    if conversation is not None and not conversation.takes_customer_replies:
        # A closed conversation (or one solved over KEFU_REOPEN_DAYS ago) is final: the
        # reply opens a follow-up.
        conversation = None
    created = conversation is None
    if conversation is None:
        conversation = actions.open_conversation(
            customer=customer,
            channel="email",
            subject=parsed.subject or "(no subject)",
            body_text=body_text,
            body_html=body_html,
            team=mailbox.team if mailbox else None,
            language=detect_language(
                f"{parsed.subject}\n{body_text}", default=mailbox.language if mailbox else "zh-hans"
            ),
            metadata=metadata,
            external_id=parsed.message_id,
            attachments=attachments,
        )
        first = conversation.messages.order_by("id").values_list("pk", flat=True)[:1]
        record.conversation_message_id = first[0] if first else None
    else:
        record.conversation_message = actions.receive_message(
            conversation,
            body_text=body_text,
            body_html=body_html,
            channel="email",
            metadata=metadata,
            external_id=parsed.message_id,
            attachments=attachments,
        )
    for name, address in [*parsed.cc, *parsed.to]:
        address = address.lower()
        if address and address != sender and address not in own and "@" in address:
            Participant.objects.get_or_create(
                conversation=conversation, email=address[:254], defaults={"name": name[:200]}
            )
    if parsed.oversized:
        problems.append(
            "attachments over the size limit were not kept: "
            + ", ".join(f"{n} ({s:,} bytes)" for n, s in parsed.oversized)
            + "; the original message can be downloaded in full"
        )
    if problems:
        actions.add_note(
            conversation,
            agent=None,
            body_text="kefu: problems reading this email: " + "; ".join(problems),
        )
    record.state = InboundEmail.State.INGESTED
    record.detail = auto or ""
    record.save(update_fields=[*fields, "conversation_message"])
    if created and mailbox is not None and mailbox.auto_acknowledge and not auto and sender:
        from kefu.mail.acknowledge import acknowledge

        acknowledge(conversation, mailbox=mailbox, to=sender, parsed=parsed)


def _sender_customer(sender: str, name: str, record: InboundEmail) -> Any:
    """The customer behind the sender. An address kefu cannot use (``root@localhost``) or none
    at all still gets a customer, identified by what was there, so the mail is not lost."""
    if sender:
        try:
            return resolve_customer(email=sender, name=name)
        except ActionError:
            return resolve_customer(visitor_id=f"email:{sender}"[:254], name=name)
    return resolve_customer(visitor_id=f"email-unknown-{record.sha256[:16]}", name=name)


def _fallback(record_id: int, exc: Exception) -> None:
    """Parsing or processing failed: still open a conversation with the raw source attached."""
    try:
        with transaction.atomic():
            record = InboundEmail.objects.select_for_update().get(pk=record_id)
            if record.state != InboundEmail.State.STORED:
                return
            with record.raw.open("rb") as handle:
                raw = handle.read()
            customer = resolve_customer(visitor_id=f"email-unreadable-{record.sha256[:16]}")
            conversation = actions.open_conversation(
                customer=customer,
                channel="email",
                subject=record.subject or "(unreadable email)",
                body_text="(kefu could not read this email; the original is attached)",
                team=record.mailbox.team if record.mailbox else None,
                metadata={"inbound_email": record.pk},
                attachments=[
                    actions.NewAttachment(
                        f"original-{record.sha256[:12]}.eml", raw, "message/rfc822"
                    )
                ],
            )
            actions.add_note(
                conversation, agent=None, body_text=f"kefu: this email could not be read ({exc!r})."
            )
            record.state = InboundEmail.State.FAILED
            record.detail = repr(exc)[:2000]
            record.conversation_message = conversation.messages.order_by("id").first()
            record.processed_at = timezone.now()
            record.save(update_fields=["state", "detail", "conversation_message", "processed_at"])
    except (ActionError, DatabaseError, OSError) as second:
        InboundEmail.objects.filter(pk=record_id, state=InboundEmail.State.STORED).update(
            state=InboundEmail.State.QUARANTINED, detail=f"{exc!r}; then {second!r}"[:2000]
        )
        raise IngestError(f"inbound email #{record_id} quarantined: {second}") from second


def reprocess_pending(limit: int = 100, older_than_seconds: int = 0) -> int:
    """Process stored messages a crashed worker left behind (run by the scheduler, which
    leaves the last minute's alone: those are still being processed by their own request)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=older_than_seconds)
    ids = list(
        InboundEmail.objects.filter(state=InboundEmail.State.STORED, received_at__lte=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        process(pk)
    return len(ids)
