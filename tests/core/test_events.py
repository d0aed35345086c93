"""Events reach listeners only after the writing transaction commits, and never after a
rollback; one failing listener does not stop the others."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from kefu.conversations import actions
from kefu.core import events as core_events
from kefu.core.events import CustomerChanged, Event, MessageAdded, dispatch, emit, listen
from tests.core.eventlog import unlisten
from tests.factories import make_conversation


class Boom(Exception):
    pass


def test_nothing_is_dispatched_before_commit(customer, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        conversation = make_conversation(customer, body="Hello")
        assert events.received == []  # written, not yet committed
    # one callback per event (listeners may add their own, e.g. analytics' one per transaction)
    assert len([c for c in callbacks if c.__qualname__.startswith("emit.")]) == 2
    assert events.names() == ["ConversationOpened", "MessageAdded"]
    assert events.received[0].conversation_id == conversation.pk


def test_captured_callbacks_dispatch_when_run(customer, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        make_conversation(customer)
    assert events.received == []
    for callback in callbacks:
        callback()
    assert events.names() == ["ConversationOpened", "MessageAdded"]


def test_rolled_back_transaction_sends_nothing(
    customer, agent_x, events, django_capture_on_commit_callbacks
):
    conversation = make_conversation(customer)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        actions.send_reply(conversation, agent=agent_x, body_text="never sent")
        actions.add_note(conversation, agent=agent_x, body_text="never written")
        raise Boom
    assert callbacks == []
    assert events.received == []
    assert conversation.messages.count() == 1


def test_a_failing_action_inside_a_larger_transaction_sends_nothing(
    customer, agent_x, events, django_capture_on_commit_callbacks
):
    conversation = make_conversation(customer)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        actions.add_note(conversation, agent=agent_x, body_text="kept")
        with pytest.raises(Boom), transaction.atomic():
            actions.send_reply(conversation, agent=agent_x, body_text="rolled back")
            raise Boom
    assert [(type(e).__name__, e.direction) for e in events.received] == [("MessageAdded", "note")]


def test_emit_waits_for_the_enclosing_transaction(db, events):
    """pytest-django wraps each test in a transaction that never commits: emit must wait."""
    emit(CustomerChanged(actor_id=None, customer_id=1, what="memory"))
    assert events.received == []


def test_one_failing_listener_does_not_stop_the_others(caplog):
    calls: list[str] = []

    def broken(event: Event) -> None:
        calls.append("broken")
        raise RuntimeError("listener bug")

    def healthy(event: Event) -> None:
        calls.append("healthy")

    listen(MessageAdded)(broken)
    listen(Event)(healthy)  # a base-class listener, after the failing one in the MRO walk
    try:
        with caplog.at_level(logging.ERROR, logger="kefu.core.events"):
            dispatch(
                MessageAdded(
                    actor_id=None,
                    conversation_id=1,
                    team_id=None,
                    assignee_id=None,
                    message_id=2,
                    direction="in",
                )
            )
    finally:
        unlisten(broken, MessageAdded)
        unlisten(healthy, Event)
    assert calls == ["broken", "healthy"]
    assert "listener bug" in caplog.text


def test_listen_registers_once_and_for_subclasses():
    seen: list[Event] = []

    def fn(event: Event) -> None:
        seen.append(event)

    listen(core_events.ConversationEvent)(fn)
    listen(core_events.ConversationEvent)(fn)
    try:
        event = core_events.StatusChanged(
            actor_id=None, conversation_id=1, team_id=None, assignee_id=None, old="new", new="open"
        )
        dispatch(event)
        dispatch(CustomerChanged(actor_id=None, customer_id=1, what="tier"))  # not a subclass
    finally:
        unlisten(fn, core_events.ConversationEvent)
    assert seen == [event]
    assert fn not in core_events._listeners[core_events.ConversationEvent]
