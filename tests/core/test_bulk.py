"""`kefu.core.bulk.insert` writes what `bulk_create` writes: the same columns and values, the
primary keys set, related objects saved just before taken by their new keys, and anything it
does not handle (expressions, database defaults) left to the ORM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult, get_date_max

from kefu.conversations.models import Conversation, Message
from kefu.core import bulk
from kefu.customers.models import ContactPoint, Customer, TimelineEntry

pytestmark = pytest.mark.django_db


def _rows(model, pks, *, skip=("id", "created_at", "updated_at")):
    return [
        {k: v for k, v in row.items() if k not in skip}
        for row in model.objects.filter(pk__in=pks).order_by("pk").values()
    ]


def _customers(tag: str) -> list[Customer]:
    return [
        Customer(name=f"{tag} 客户 {n}", primary_contact=f"{tag}{n}@example.cn") for n in range(3)
    ]


def test_the_same_rows_as_bulk_create_with_their_keys_and_state():
    ours, theirs = _customers("a"), _customers("a")
    bulk.insert(ours)
    Customer.objects.bulk_create(theirs)
    assert all(c.pk and not c._state.adding and c._state.db == "default" for c in ours)
    assert len({c.pk for c in ours}) == 3
    assert _rows(Customer, [c.pk for c in ours]) == _rows(Customer, [c.pk for c in theirs])
    # auto_now_add filled on the instances, as save() and bulk_create do
    assert all(c.created_at is not None for c in ours)
    assert Customer.objects.get(pk=ours[0].pk).created_at == ours[0].created_at


def test_rows_pointing_at_objects_saved_in_the_same_breath_take_their_new_keys():
    customers = _customers("b")
    points = [ContactPoint(customer=c, kind="email", value=c.primary_contact) for c in customers]
    entries = [
        TimelineEntry(customer=c, kind="customer_created", data={"source": "email", "名": "王"})
        for c in customers
    ]
    bulk.insert(customers)  # the points and entries were built before the customers had keys
    bulk.insert(points)
    bulk.insert(entries)
    for customer, point, entry in zip(customers, points, entries, strict=True):
        assert ContactPoint.objects.get(pk=point.pk).customer_id == customer.pk
        assert TimelineEntry.objects.get(pk=entry.pk).data == {"source": "email", "名": "王"}


def test_conversations_and_messages_as_receive_many_writes_them():
    customer = Customer.objects.create(name="张伟")
    mine = [Conversation(customer=customer, channel="email", subject=f"问题 {n}") for n in range(2)]
    theirs = [
        Conversation(customer=customer, channel="email", subject=f"问题 {n}") for n in range(2)
    ]
    bulk.insert(mine)
    Conversation.objects.bulk_create(theirs)
    assert _rows(Conversation, [c.pk for c in mine]) == _rows(Conversation, [c.pk for c in theirs])
    metadata = {"from": "a@example.cn", "references": ["x@y"], "quoted": "在 … 写道"}
    messages = [
        Message(
            conversation=c,
            direction="in",
            channel="email",
            author_customer=customer,
            body_text="你好",
            metadata=metadata,
            external_id=f"{c.pk}@example.cn",
        )
        for c in mine
    ]
    bulk.insert(messages)
    reference = Message(
        conversation=theirs[0],
        direction="in",
        channel="email",
        author_customer=customer,
        body_text="你好",
        metadata=metadata,
        external_id=f"{theirs[0].pk}@example.cn",
    )
    Message.objects.bulk_create([reference])
    got = _rows(
        Message, [messages[0].pk], skip=("id", "created_at", "conversation_id", "external_id")
    )
    want = _rows(
        Message, [reference.pk], skip=("id", "created_at", "conversation_id", "external_id")
    )
    assert got == want
    assert Message.objects.get(pk=messages[1].pk).conversation_id == mine[1].pk


def test_rows_with_their_own_keys_are_written_with_them():
    """The task queue's rows carry a UUID key of their own (no RETURNING needed)."""
    ids = [str(uuid.uuid4()) for _ in range(2)]
    rows = [
        DBTaskResult(
            id=pk,
            args_kwargs={"args": [n], "kwargs": {}},
            priority=0,
            task_path="kefu.mail.tasks.send_outbound",
            queue_name="default",
            run_after=get_date_max(),
            backend_name="default",
        )
        for n, pk in enumerate(ids)
    ]
    bulk.insert(rows)
    stored = {str(r.pk): r for r in DBTaskResult.objects.filter(pk__in=ids)}
    assert set(stored) == set(ids)
    assert stored[ids[1]].args_kwargs == {"args": [1], "kwargs": {}}
    assert stored[ids[0]].run_after == get_date_max()


def test_many_rows_are_split_into_statements_the_database_accepts():
    customer = Customer.objects.create(name="批量")
    entries = [TimelineEntry(customer=customer, kind="note", data={"n": n}) for n in range(450)]
    with CaptureQueriesContext(connection) as queries:
        bulk.insert(entries)
    inserts = [q for q in queries if q["sql"].startswith("INSERT")]
    assert 1 <= len(inserts) <= 3
    assert sorted(e.data["n"] for e in TimelineEntry.objects.filter(customer=customer)) == list(
        range(450)
    )
    assert len({e.pk for e in entries}) == 450


def test_an_expression_as_a_value_is_left_to_the_orm():
    customer = Customer(name=Upper(Value("abc")), primary_contact="x@example.cn")
    bulk.insert([customer])
    assert Customer.objects.get(pk=customer.pk).name == "ABC"


def test_timestamps_given_are_kept_and_nothing_is_written_for_no_rows():
    with CaptureQueriesContext(connection) as queries:
        bulk.insert([])
    assert not queries
    customer = Customer.objects.create(name="时间")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    conversation = Conversation(customer=customer, channel="email", last_message_at=when)
    bulk.insert([conversation])
    assert Conversation.objects.get(pk=conversation.pk).last_message_at == when
