"""Inbound mail processed in batches (the worker's path, kefu/mail/batch.py): the same result
as one message at a time, re-deliveries and replies within one batch, a poison message in a
batch, and stored messages a crashed worker left behind."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kefu.conversations.models import Conversation, Message, Status
from kefu.customers.actions import resolve_customer
from kefu.customers.models import ContactPoint, Customer, TimelineEntry
from kefu.mail import batch as batch_module
from kefu.mail import ingest as ingest_module
from kefu.mail.batch import accept, ingest_many, process_batch, process_pending
from kefu.mail.ingest import ingest, store
from kefu.mail.models import AutoReplyLog, InboundEmail, Mailbox, OutboundEmail, Participant
from tests.mail.builders import raw_email

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def mailbox(team_x):
    return Mailbox.objects.create(name="Support", address="support@kefu.test", team=team_x)


def relayed(raw: bytes) -> bytes:
    """The same message relayed once more: other bytes, the same Message-ID."""
    return b"Received: from relay2.example.cn by mx.kefu.test; Fri, 20 Nov 2026\r\n" + raw


def scenario() -> list[bytes]:
    """Messages that exercise every decision a batch takes in memory."""
    first = raw_email(message_id="<m1@example.cn>", subject="订单还没到")
    return [
        first,
        # the same new customer again, another subject: a second conversation, acknowledged
        raw_email(message_id="<m2@example.cn>", subject="发票", body="请开发票。"),
        # a reply to the first message: threaded into its conversation, no acknowledgment
        raw_email(
            message_id="<m3@example.cn>",
            subject="Re: 订单还没到",
            body="还在等。",
            in_reply_to="<m1@example.cn>",
            references="<m1@example.cn>",
        ),
        # re-deliveries: the same bytes, and the same Message-ID relayed
        first,
        relayed(first),
        # someone else, copying a colleague, in English
        raw_email(
            sender="john@example.com",
            name="John Smith",
            message_id="<m4@example.com>",
            subject="Refund please",
            body="Hello, I would like a refund for order 1234.",
            cc="Mary <mary@example.com>, support@kefu.test",
        ),
        # the copied colleague answers: she belongs to that conversation
        raw_email(
            sender="mary@example.com",
            name="Mary",
            message_id="<m5@example.com>",
            subject="Re: Refund please",
            body="Same for my order.",
            in_reply_to="<m4@example.com>",
        ),
        # a stranger quoting someone else's reference: a conversation of his own
        raw_email(
            sender="stranger@example.net",
            name="",
            message_id="<m6@example.net>",
            subject="Re: 订单还没到",
            body="我也要。",
            in_reply_to="<m1@example.cn>",
        ),
        # an out-of-office reply: a message, no acknowledgment
        raw_email(
            sender="away@example.cn",
            name="",
            message_id="<m7@example.cn>",
            subject="自动回复: 你好",
            body="我休假了。",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        # ourselves: ignored (a mail loop)
        raw_email(sender="support@kefu.test", name="", message_id="<m8@kefu.test>"),
        # the known customer with a solved conversation writes again: it reopens
        raw_email(
            sender="old@example.cn",
            name="老客户",
            message_id="<m9@example.cn>",
            subject="Re: 上次的问题",
            body="又坏了。",
            in_reply_to="<old1@example.cn>",
        ),
        # a 4th and 5th message of the first customer within the hour: the flood limit (3)
        raw_email(message_id="<m10@example.cn>", subject="第三个问题", body="第三。"),
        raw_email(message_id="<m11@example.cn>", subject="第四个问题", body="第四。"),
    ]


def known_customer_with_solved_conversation() -> None:
    customer = resolve_customer(email="old@example.cn")
    conversation = Conversation.objects.create(
        customer=customer, channel="email", subject="上次的问题", status=Status.SOLVED
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        channel="email",
        author_customer=customer,
        body_text="坏了",
        external_id="old1@example.cn",
    )


def outcome() -> dict[str, object]:
    """What the messages became, without ids (comparable across two runs)."""

    def who(customer: Customer) -> str:
        return customer.primary_contact

    conversations = {}
    for conversation in Conversation.objects.select_related("customer"):
        ids = sorted(
            conversation.messages.filter(direction="in").values_list("external_id", flat=True)
        )
        conversations[tuple(ids)] = (
            who(conversation.customer),
            conversation.subject,
            conversation.status,
            sorted(Participant.objects.filter(conversation=conversation).values_list("email")),
            sorted(
                (tuple(o.to), o.kind)
                for o in OutboundEmail.objects.filter(conversation=conversation)
            ),
        )
    return {
        "rows": Counter(InboundEmail.objects.values_list("state", flat=True)),
        "customers": sorted(
            (c.primary_contact, c.name, sorted(c.contact_points.values_list("kind", "value")))
            for c in Customer.objects.all()
        ),
        "conversations": conversations,
        "timeline": sorted(
            Counter(
                (who(e.customer), e.kind) for e in TimelineEntry.objects.select_related("customer")
            ).items()
        ),
        "auto_reply_log": sorted(AutoReplyLog.objects.values_list("recipient", flat=True)),
    }


def wipe() -> None:
    for model in (TimelineEntry, Participant, OutboundEmail, AutoReplyLog, InboundEmail):
        model.objects.all().delete()
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    ContactPoint.objects.all().delete()
    Customer.objects.all().delete()


def test_a_batch_makes_what_one_by_one_makes(mailbox):
    known_customer_with_solved_conversation()
    for raw in scenario():
        ingest(raw, mailbox=mailbox, source="pipe")
    one_by_one = outcome()
    wipe()

    known_customer_with_solved_conversation()
    ingest_many(scenario(), mailbox=mailbox, source="pipe")  # all in one batch
    in_a_batch = outcome()

    assert in_a_batch == one_by_one
    # and what that is:
    assert one_by_one["rows"] == Counter(ingested=10, duplicate=1, ignored=1)
    conversations = one_by_one["conversations"]
    assert conversations[("m1@example.cn", "m3@example.cn")][0] == "wang.fang@example.cn"
    assert conversations[("m4@example.com", "m5@example.com")][3] == [("mary@example.com",)]
    assert conversations[("m6@example.net",)][0] == "stranger@example.net"
    assert conversations[("m9@example.cn", "old1@example.cn")][2] == Status.OPEN
    acknowledged = Counter(to for _c, _s, _st, _p, out in conversations.values() for to, _k in out)
    assert acknowledged == {
        ("wang.fang@example.cn",): 3,  # m1, m2, m10; m11 over the flood limit
        ("john@example.com",): 1,
        ("stranger@example.net",): 1,
    }


def test_a_reply_in_the_same_batch_joins_the_new_conversation(mailbox):
    ids = ingest_many(
        [
            raw_email(message_id="<a1@example.cn>"),
            raw_email(message_id="<a2@example.cn>", in_reply_to="<a1@example.cn>"),
        ],
        mailbox=mailbox,
    )
    first, second = (InboundEmail.objects.get(pk=pk) for pk in ids)
    assert first.conversation_message.conversation_id == second.conversation_message.conversation_id
    assert Customer.objects.count() == 1
    assert OutboundEmail.objects.filter(kind="ack").count() == 1


def test_redelivery_within_one_batch_is_one_message(mailbox):
    raw = raw_email(message_id="<same@example.cn>")
    ids = ingest_many([raw, raw, relayed(raw), relayed(raw)], mailbox=mailbox)
    assert len(set(ids)) == 2  # the same bytes are one row
    assert sorted(InboundEmail.objects.values_list("state", flat=True)) == [
        "duplicate",
        "ingested",
    ]
    assert Message.objects.filter(direction="in").count() == 1
    assert Conversation.objects.count() == 1
    assert OutboundEmail.objects.filter(kind="ack").count() == 1
    # and delivered again later, in another batch
    ingest_many([raw, relayed(relayed(raw))], mailbox=mailbox)
    assert Message.objects.filter(direction="in").count() == 1


def test_a_poison_message_does_not_block_or_lose_the_others(mailbox, monkeypatch):
    real = ingest_module.split_quoted

    def poisoned(text):
        if "POISON" in text:
            raise RuntimeError("this message breaks kefu")
        return real(text)

    monkeypatch.setattr(ingest_module, "split_quoted", poisoned)
    monkeypatch.setattr(batch_module, "split_quoted", poisoned)
    raws = [raw_email(body=f"第 {n} 封。" + (" POISON" if n == 3 else "")) for n in range(6)]
    ids = ingest_many(raws, mailbox=mailbox)
    states = [InboundEmail.objects.get(pk=pk).state for pk in ids]
    assert states == ["ingested"] * 3 + ["failed"] + ["ingested"] * 2
    poison = InboundEmail.objects.get(pk=ids[3])
    assert "breaks kefu" in poison.detail
    # the poison message still became a conversation, with its raw source attached
    assert poison.conversation_message.attachments.get().filename.startswith("original-")
    assert Message.objects.filter(direction="in", body_text__contains="封").count() == 5


def test_a_message_that_cannot_be_parsed_skips_the_batch(mailbox, monkeypatch):
    real = batch_module._parse_within_cap

    def parse(raw):
        if b"UNPARSABLE" in raw:
            raise ValueError("no parser for this")
        return real(raw)

    monkeypatch.setattr(batch_module, "_parse_within_cap", parse)
    ids = ingest_many(
        [raw_email(), raw_email(subject="UNPARSABLE"), raw_email(subject="第三")], mailbox=mailbox
    )
    assert [InboundEmail.objects.get(pk=pk).state for pk in ids] == ["ingested"] * 3
    # (one by one the real parser read it: the batch only left it out)


def test_stored_but_not_processed_is_processed_later_exactly_once(mailbox):
    """The pipe stored the messages and the worker died before processing them."""
    raws = [raw_email(), raw_email(subject="第二"), raw_email(sender="li@example.cn")]
    for raw in raws:
        store(raw, mailbox=mailbox, source="pipe")
    assert InboundEmail.objects.filter(state="stored").count() == 3
    assert process_pending(batch_size=2) == 3
    assert process_pending() == 0
    assert Counter(InboundEmail.objects.values_list("state", flat=True)) == {"ingested": 3}
    assert Message.objects.filter(direction="in").count() == 3
    # processing the same rows again (a second worker, a retried task) changes nothing
    process_batch(list(InboundEmail.objects.values_list("pk", flat=True)))
    assert Message.objects.filter(direction="in").count() == 3
    assert OutboundEmail.objects.filter(kind="ack").count() == 3


def test_accept_stores_and_the_worker_task_processes(mailbox):
    record = accept(raw_email(), mailbox=mailbox, source="smtp")
    record.refresh_from_db()  # the immediate task backend of the tests ran the worker's job
    assert record.state == "ingested"
    assert OutboundEmail.objects.filter(kind="ack").count() == 1


def test_a_batch_writes_a_few_statements_per_message(mailbox):
    raws = [raw_email(sender=f"c{n}@example.cn", subject=f"问题 {n}") for n in range(40)]
    ids = [store(raw, mailbox=mailbox, source="pipe")[0].pk for raw in raws]
    with CaptureQueriesContext(connection) as queries:
        process_batch(ids)
    assert Counter(InboundEmail.objects.values_list("state", flat=True)) == {"ingested": 40}
    # One INSERT per table for the batch; what remains per message are the listeners of the
    # events (other apps) and the immediate task backend of the tests sending each email.
    per_message = len(queries) / 40
    assert per_message < 12, per_message


def test_with_the_database_queue_a_batch_writes_the_delivery_tasks_as_enqueue_does(
    mailbox, settings
):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    ids = [
        store(raw_email(sender=f"c{n}@example.cn"), mailbox=mailbox, source="pipe")[0].pk
        for n in range(3)
    ]
    process_batch(ids)
    outbox = sorted(OutboundEmail.objects.filter(kind="ack").values_list("pk", flat=True))
    assert len(outbox) == 3
    tasks = DBTaskResult.objects.filter(task_path="kefu.mail.tasks.send_outbound")
    assert sorted(t.args_kwargs["args"][0] for t in tasks) == outbox
    # the rows the queue's own enqueue writes: ready, to run now, readable by its worker
    from kefu.mail.tasks import send_outbound

    reference = send_outbound.enqueue(outbox[0])
    ours, theirs = tasks.exclude(pk=reference.id).first(), DBTaskResult.objects.get(pk=reference.id)
    for name in ("status", "run_after", "priority", "queue_name", "backend_name", "task_path"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert list(ours.task_result.args) == ours.args_kwargs["args"]  # its worker can read it


def test_a_burst_into_one_process_queues_one_processing_task_while_it_waits(mailbox, settings):
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    waking = DBTaskResult.objects.filter(task_path="kefu.mail.tasks.process_inbound")
    batch_module._last_wake.clear()
    for n in range(3):
        accept(raw_email(subject=f"第 {n} 封"), mailbox=mailbox, source="smtp")
    assert waking.count() == 1  # not started yet: it will see all three
    waking.update(status=TaskResultStatus.RUNNING)  # the worker took it: it may have looked
    accept(raw_email(subject="又一封"), mailbox=mailbox, source="smtp")
    assert waking.count() == 2
    assert InboundEmail.objects.filter(state="stored").count() == 4
    assert process_pending() == 4  # what the tasks do
