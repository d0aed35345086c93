"""Inbound mail processed in batches: the worker's path.

The pipe command and the SMTP listener only *store* a message (:func:`accept`: the raw bytes
are durable, the sender may forget it) and wake the worker, which processes every stored
message in batches (:func:`process_pending`): one transaction per batch, one INSERT per table
per batch (customers, contact points, conversations, messages, timeline entries, outbox and
task rows), and the same events as :func:`kefu.mail.ingest.ingest`, one per message, after
the commit. The result is what ``ingest`` makes of the same messages one by one: the same
customers, threading, acknowledgments, duplicates recognised, within a batch too.

A batch that fails for any reason is rolled back and its messages are processed one by one
(``ingest.process``): a poison message is then quarantined or kept as a raw attachment by
itself, and the others go through. A message that cannot even be parsed skips the batch and
goes the same way.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from kefu.conversations import actions
from kefu.conversations.models import OPEN_STATUSES, Conversation, Message, Status
from kefu.core import bulk
from kefu.core.errors import ActionError
from kefu.core.text import detect_language
from kefu.customers import identity
from kefu.customers.actions import resolve_customers
from kefu.customers.models import Customer, TimelineEntry
from kefu.mail import ingest as ingest_module
from kefu.mail.ingest import (
    IngestError,
    _own_addresses,
    _parse_within_cap,
    _relax_commit,
    process,
    store,
)
from kefu.mail.loops import automatic_reason
from kefu.mail.models import AutoReplyLog, InboundEmail, Mailbox, OutboundEmail, Participant
from kefu.mail.parsing import ParsedEmail
from kefu.mail.quotes import split_quoted
from kefu.mail.threading import TOKEN, _forms, normalize_subject

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
State = InboundEmail.State


def accept(raw: bytes, *, mailbox: Mailbox | None = None, source: str = "pipe") -> InboundEmail:
    """Store the raw message (raises ``StorageError`` when that fails) and have the worker
    process it soon. What the pipe command and the SMTP listener do: once this returns, the
    message is kefu's."""
    record, _created = store(raw, mailbox=mailbox, source=source)
    if record.state == State.STORED and not _wake_up_pending():
        from kefu.mail.tasks import process_inbound

        _last_wake[:] = [process_inbound.enqueue().id]
    return record


_last_wake: list[str] = []  # the process_inbound task this process queued last


def _wake_up_pending() -> bool:
    """True when the ``process_inbound`` task this process queued last is still waiting in
    the database queue, not started: it will see the row just committed, so a burst of mail
    into one long-lived process (the SMTP listener) makes one task, not one per message. One
    look-up by primary key; a task that has started may have looked already, so then a new
    one is queued."""
    from kefu.mail.outbound import _queue_in_database

    if not _last_wake or not _queue_in_database():
        return False
    sql, ready, pk_field = _wake_up_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk_field.get_db_prep_value(_last_wake[0], connection), ready])
        return cursor.fetchone() is not None


@functools.cache
def _wake_up_sql() -> tuple[str, str, Any]:
    """The wake-up check's statement (plain SQL: this runs for every message the listener
    takes in, and the ORM's building of the query cost several times its execution), the
    ready status, and the task table's primary key field."""
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    meta = DBTaskResult._meta
    quote = connection.ops.quote_name
    pk_column, status_column = str(meta.pk.column), str(meta.get_field("status").column)
    sql = (
        f"SELECT 1 FROM {quote(meta.db_table)} WHERE {quote(pk_column)} = %s "  # noqa: S608
        f"AND {quote(status_column)} = %s"
    )
    return sql, str(TaskResultStatus.READY), meta.pk


def ingest_many(
    raws: Iterable[bytes],
    *,
    mailbox: Mailbox | None = None,
    source: str = "pipe",
    batch_size: int = BATCH_SIZE,
) -> list[int]:
    """:func:`kefu.mail.ingest.ingest` for many messages: each stored first, in its own
    transaction, then processed in batches. The ids of the inbound rows, in order."""
    ids: list[int] = []
    pending: list[int] = []
    for raw in raws:
        record, _created = store(raw, mailbox=mailbox, source=source)
        ids.append(record.pk)
        if record.state == State.STORED and record.pk not in pending:
            pending.append(record.pk)
        if len(pending) >= batch_size:
            process_batch(pending)
            pending = []
    process_batch(pending)
    return ids


def process_pending(batch_size: int = BATCH_SIZE, older_than_seconds: int = 0) -> int:
    """Process every stored message, oldest first, in batches; the number processed."""
    done = 0
    last = 0
    while True:
        cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
        ids = list(
            InboundEmail.objects.filter(state=State.STORED, received_at__lte=cutoff, pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return done
        process_batch(ids)
        done += len(ids)
        last = ids[-1]


def process_batch(ids: Sequence[int]) -> None:
    """Process these stored messages in one transaction; one by one if that fails."""
    if not ids:
        return
    unreadable: list[int] = []
    try:
        with transaction.atomic():
            _relax_commit()
            records = list(
                InboundEmail.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("mailbox")
                .filter(pk__in=list(ids), state=State.STORED)
                .order_by("pk")
            )
            items = []
            for record in records:
                try:
                    with record.raw.open("rb") as handle:
                        raw = handle.read()
                    items.append(_Item(record, _parse_within_cap(raw)))
                except Exception:
                    unreadable.append(record.pk)
            _Batch(items).run()
    except Exception:
        logger.exception("a batch of %d inbound emails failed; now one by one", len(ids))
        _one_by_one(ids)
        return
    _one_by_one(unreadable)  # parses again, fails again, keeps the raw source (_fallback)


def _one_by_one(ids: Sequence[int]) -> None:
    for pk in ids:
        try:
            process(pk)
        except IngestError:
            logger.exception("inbound email #%s quarantined", pk)


@dataclass(eq=False)
class _Item:
    record: InboundEmail
    parsed: ParsedEmail
    sender: str = ""
    auto: str | None = None
    customer: Customer | None = None
    conversation: Conversation | None = None
    inbound: actions.Inbound | None = None
    problems: list[str] = field(default_factory=list)


class _Batch:
    """One batch: decisions in memory, in delivery order, then one write per table."""

    def __init__(self, items: list[_Item]) -> None:
        self.items = items
        self.now = timezone.now()
        self.own = _own_addresses()
        self.conversations: dict[int, Conversation | None] = {}  # existing, by id
        self.by_message_id: dict[str, Conversation] = {}  # messages of this batch
        self.participants: set[tuple[int, str]] = set()  # (id of the conversation, email)
        self.timeline: list[TimelineEntry] = []
        self._ingested: dict[str, int] | None = None  # Message-ID → the row that made it

    def run(self) -> None:
        work = [item for item in self.items if self._triage(item)]
        self._resolve_customers(work)
        self._prefetch_threads(work)
        inbound: list[actions.Inbound] = []
        for item in work:
            self._prepare(item)
            assert item.inbound is not None
            inbound.append(item.inbound)
        actions.receive_many(inbound)
        for item in work:
            assert item.inbound is not None and item.inbound.message is not None
            item.conversation = item.inbound.conversation
            item.record.conversation_message = item.inbound.message
            item.record.state = State.INGESTED
            item.record.detail = item.auto or ""
        self._participants(work)
        for item in work:
            if item.problems:
                actions.add_note(
                    item.conversation,  # type: ignore[arg-type]
                    agent=None,
                    body_text="kefu: problems reading this email: " + "; ".join(item.problems),
                )
        self._acknowledge([item for item in work if item.inbound and item.inbound.opened])
        bulk.insert(self.timeline)
        _update_each(
            [item.record for item in self.items],
            [
                "message_id",
                "sender",
                "subject",
                "processed_at",
                "state",
                "detail",
                "conversation_message",
            ],
        )

    # Before the conversation: bounces, duplicates, ourselves ------------------------------

    def _triage(self, item: _Item) -> bool:
        """Fill the row's fields; False when the message does not become a message."""
        record, parsed = item.record, item.parsed
        record.message_id = parsed.message_id[:998]
        record.sender = item.sender = (parsed.reply_to or parsed.from_address)[:254]
        record.subject = parsed.subject[:255]
        record.processed_at = self.now
        for handler in getattr(ingest_module, "report_handlers", ()):  # as ingest._process
            detail = handler(record, parsed)
            if detail:
                record.state = State.BOUNCE
                record.detail = detail
                return False
        if parsed.delivery_status is not None:
            from kefu.mail.outbound import mark_bounced

            status = parsed.delivery_status
            found = mark_bounced(
                status.original_message_id,
                f"{status.status} {status.recipient}: {status.diagnostic}".strip(),
            )
            record.state = State.BOUNCE
            record.detail = "bounce for our message" if found else "bounce for an unknown message"
            return False
        if parsed.message_id:
            earlier = self._earlier(record)
            if earlier is not None:
                record.state = State.DUPLICATE
                record.detail = f"same Message-ID as inbound email #{earlier}"
                return False
        if item.sender in self.own:
            record.state = State.IGNORED
            record.detail = "sent from one of our own addresses (mail loop)"
            return False
        record.state = State.INGESTED  # decided; written at the end of the batch
        if record.message_id and self._ingested is not None:
            self._ingested.setdefault(record.message_id, record.pk)  # later copies: duplicates
        return True

    def _earlier(self, record: InboundEmail) -> int | None:
        """The ingested row with the same Message-ID, in the database or earlier in this
        batch."""
        if self._ingested is None:
            ids = {item.parsed.message_id[:998] for item in self.items if item.parsed.message_id}
            self._ingested = {}
            for message_id, pk in (
                InboundEmail.objects.filter(message_id__in=ids, state=State.INGESTED)
                .order_by("pk")
                .values_list("message_id", "pk")
            ):
                self._ingested.setdefault(message_id, pk)
        return self._ingested.get(record.message_id)

    # The customer ----------------------------------------------------------------------

    def _resolve_customers(self, work: list[_Item]) -> None:
        requests = []
        for item in work:
            name = item.parsed.from_name
            if item.sender:
                try:
                    identity.normalize("email", item.sender)
                    requests.append(("email", item.sender, name))
                except ActionError:
                    requests.append(("visitor", f"email:{item.sender}"[:254], name))
            else:
                requests.append(("visitor", f"email-unknown-{item.record.sha256[:16]}", name))
        for item, customer in zip(work, resolve_customers(requests), strict=True):
            item.customer = customer

    # The conversation --------------------------------------------------------------------

    def _prefetch_threads(self, work: list[_Item]) -> None:
        """Read at once what threading needs: the conversations the batch's references and
        subject tokens point at."""
        ids = {form for item in work for form in _forms(_references(item.parsed))}
        self.outbound: list[tuple[str, int]] = []
        self.inbound_refs: list[tuple[str, int]] = []
        if ids:
            self.outbound = list(
                OutboundEmail.objects.filter(message_id__in=ids)
                .order_by("pk")
                .values_list("message_id", "conversation_id")
            )
            self.inbound_refs = list(
                Message.objects.filter(external_id__in=ids)
                .order_by("pk")
                .values_list("external_id", "conversation_id")
            )
        wanted = {pk for _i, pk in self.outbound} | {pk for _i, pk in self.inbound_refs}
        for item in work:
            match = TOKEN.search(item.parsed.subject)
            if match:
                wanted.add(int(match.group(1)))
        if wanted:
            self.conversations.update(dict.fromkeys(wanted))
            for conversation in Conversation.objects.select_related("customer").filter(
                pk__in=wanted
            ):
                self.conversations[conversation.pk] = conversation

    def _existing(self, pk: int) -> Conversation | None:
        if pk not in self.conversations:
            conversation = Conversation.objects.select_related("customer").filter(pk=pk).first()
            self.conversations[pk] = conversation
        return self.conversations[pk]

    def _belongs(self, conversation: Conversation, customer: Customer, sender: str) -> bool:
        if conversation.customer_id == customer.pk:
            return True
        if not sender:
            return False
        if conversation.pk is not None and (id(conversation), sender) not in self.participants:
            return Participant.objects.filter(conversation=conversation, email=sender).exists()
        return (id(conversation), sender) in self.participants

    def _find(self, item: _Item) -> Conversation | None:
        """:func:`kefu.mail.threading.find_conversation`, with this batch's messages too."""
        parsed, customer = item.parsed, item.customer
        assert customer is not None
        forms = set(_forms(_references(parsed)))
        candidates: list[Any] = []
        if forms:
            candidates += [pk for i, pk in self.outbound if i in forms]
            candidates += [pk for i, pk in self.inbound_refs if i in forms]
            candidates += [c for i, c in self.by_message_id.items() if i in forms]
        match = TOKEN.search(parsed.subject)
        if match:
            candidates.append(int(match.group(1)))
        seen: set[Any] = set()
        for candidate in candidates:
            key = candidate if isinstance(candidate, int) else id(candidate)
            if key in seen:
                continue
            seen.add(key)
            conversation = self._existing(candidate) if isinstance(candidate, int) else candidate
            while conversation is not None and conversation.merged_into_id:
                conversation = self._existing(conversation.merged_into_id)
            if conversation is not None and self._belongs(conversation, customer, item.sender):
                return conversation
        mailbox = item.record.mailbox
        if mailbox is not None and mailbox.thread_by_subject_days:
            wanted = normalize_subject(parsed.subject)
            if wanted:
                for conversation in reversed(list(self.by_message_id.values())):
                    if (
                        conversation.customer_id == customer.pk
                        and conversation.status in OPEN_STATUSES
                        and normalize_subject(conversation.subject) == wanted
                    ):
                        return conversation
                since = timezone.now() - timedelta(days=mailbox.thread_by_subject_days)
                for conversation in (
                    Conversation.objects.select_related("customer")
                    .filter(
                        customer=customer,
                        channel="email",
                        status__in=OPEN_STATUSES,
                        last_message_at__gte=since,
                    )
                    .order_by("-last_message_at")[:20]
                ):
                    if normalize_subject(conversation.subject) == wanted:
                        return self.conversations.setdefault(conversation.pk, conversation)
        return None

    def _prepare(self, item: _Item) -> None:
        parsed, record, customer = item.parsed, item.record, item.customer
        assert customer is not None
        mailbox = record.mailbox
        item.auto = automatic_reason(parsed, self.own)
        shown, quoted = split_quoted(parsed.text)
        body_text = shown or parsed.text
        body_html = "" if quoted else parsed.html
        item.problems = list(parsed.defects)
        if not body_text.strip() and not body_html.strip():
            body_text = "(empty message)" if not parsed.attachments else "(attachments only)"
        metadata: dict[str, Any] = {
            "from": item.sender,
            "from_name": parsed.from_name,
            "to": [addr for _name, addr in parsed.to],
            "cc": [addr for _name, addr in parsed.cc],
            "message_id": parsed.message_id,
            "references": [*parsed.references, *parsed.in_reply_to][-20:],
            "inbound_email": record.pk,
            "automatic": item.auto or "",
            "quoted": quoted[:20000],
            "oversized": [{"filename": n, "size": s} for n, s in parsed.oversized],
            "cid": {a.content_id: a.filename for a in parsed.attachments if a.content_id},
        }
        conversation = self._find(item)
        if conversation is not None and (
            conversation.status == Status.CLOSED
            or not getattr(conversation, "takes_customer_replies", True)
        ):
            conversation = None  # a closed conversation is final: the reply opens a follow-up
        if conversation is None:
            conversation = actions.new_conversation(
                customer=customer,
                channel="email",
                subject=parsed.subject or "(no subject)",
                team=mailbox.team if mailbox else None,
                language=detect_language(
                    f"{parsed.subject}\n{body_text}",
                    default=mailbox.language if mailbox else "zh-hans",
                ),
            )
        item.conversation = conversation
        if parsed.message_id:
            self.by_message_id[parsed.message_id] = conversation
        item.inbound = actions.Inbound(
            conversation=conversation,
            body_text=body_text,
            body_html=body_html,
            channel="email",
            metadata=metadata,
            external_id=parsed.message_id,
            attachments=[
                actions.NewAttachment(a.filename, a.content, a.content_type)
                for a in parsed.attachments
            ],
        )
        for name, address in [*parsed.cc, *parsed.to]:
            address = address.lower()
            if address and address != item.sender and address not in self.own and "@" in address:
                self.participants.add((id(conversation), address[:254]))
                item.__dict__.setdefault("copied", []).append((address[:254], name[:200]))
        if parsed.oversized:
            item.problems.append(
                "attachments over the size limit were not kept: "
                + ", ".join(f"{n} ({s:,} bytes)" for n, s in parsed.oversized)
                + "; the original message can be downloaded in full"
            )

    def _participants(self, work: list[_Item]) -> None:
        rows: dict[tuple[int | None, str], Participant] = {}
        for item in work:
            for address, name in item.__dict__.get("copied", []):
                assert item.conversation is not None
                key = (item.conversation.pk, address)
                rows.setdefault(
                    key, Participant(conversation=item.conversation, email=address, name=name)
                )
        Participant.objects.bulk_create(list(rows.values()), ignore_conflicts=True)

    # The acknowledgment ----------------------------------------------------------------

    def _acknowledge(self, opened: list[_Item]) -> None:
        from kefu.mail.acknowledge import compose
        from kefu.mail.outbound import outbox_row, queue_many

        due = [
            item
            for item in opened
            if item.record.mailbox is not None
            and item.record.mailbox.auto_acknowledge
            and not item.auto
            and item.sender
        ]
        if not due:
            return
        hour_ago = timezone.now() - timedelta(hours=1)
        sent = Counter(
            dict(
                AutoReplyLog.objects.filter(
                    recipient__in={item.sender for item in due}, sent_at__gte=hour_ago
                )
                .values_list("recipient")
                .annotate(n=Count("pk"))
                .values_list("recipient", "n")
            )
        )
        articles = _articles_possible()
        rows, logs = [], []
        for item in due:
            mailbox, conversation = item.record.mailbox, item.conversation
            assert mailbox is not None and conversation is not None
            if sent[item.sender] >= mailbox.max_auto_replies_per_hour:
                self.timeline.append(
                    TimelineEntry(
                        customer=conversation.customer,
                        conversation=conversation,
                        kind="acknowledgment_skipped",
                        data={"reason": "flood limit"},
                    )
                )
                continue
            sent[item.sender] += 1
            content = compose(
                conversation,
                mailbox=mailbox,
                to=item.sender,
                parsed=item.parsed,
                with_articles=articles,
            )
            rows.append(outbox_row(conversation=conversation, **content.outbox))
            logs.append(AutoReplyLog(recipient=item.sender))
            self.timeline.append(
                TimelineEntry(
                    customer=conversation.customer,
                    conversation=conversation,
                    kind="acknowledged",
                    data={"to": item.sender, "due": content.due.isoformat()},
                )
            )
        queue_many(rows)
        bulk.insert(logs)


def _update_each(rows: Sequence[Any], fields: Sequence[str]) -> None:
    """``UPDATE … WHERE id = …`` for each row, as one ``executemany``: the ORM's
    ``bulk_update`` builds a CASE per field and row, which cost more than the batch's INSERTs
    together."""
    if not rows:
        return
    meta = rows[0]._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the text, quoted; values are
    # parameters.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608
        + ", ".join(f"{quote(f.column)} = %s" for f in columns)
        + f" WHERE {quote(meta.pk.column)} = %s"
    )
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _references(parsed: ParsedEmail) -> list[str]:
    return [*parsed.in_reply_to, *reversed(parsed.references)]


def _articles_possible() -> bool:
    """Whether the help center has a public article an acknowledgment could list (one query
    a batch, instead of a search per acknowledgment in a knowledge base with none)."""
    try:
        from kefu.kb.helpcenter import public_articles

        return bool(public_articles().exists())
    except Exception:
        return True
