"""Splitting a conversation: a message and the later ones move to a new conversation."""

from __future__ import annotations

import pytest

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Message, Status
from kefu.conversations.split import split_conversation
from kefu.core.errors import ActionError
from kefu.core.events import ConversationOpened, ConversationSplit
from kefu.customers.models import TimelineEntry
from tests.factories import UserFactory, make_conversation


@pytest.fixture
def thread(customer, team_x, agent_x):
    c = make_conversation(customer, team=team_x, subject="Order and invoice")
    actions.send_reply(c, agent=agent_x, body_text="Your order ships today.")
    second = actions.receive_message(c, body_text="Also, my invoice is wrong.")
    actions.add_note(c, agent=agent_x, body_text="billing issue")
    actions.tag(c, actor=agent_x, add=["vip"])
    return c, second


def test_split_moves_the_message_and_later_ones(
    thread, agent_x, events, django_capture_on_commit_callbacks
):
    c, second = thread
    with django_capture_on_commit_callbacks(execute=True):
        new = split_conversation(c, actor=agent_x, message_id=second.pk, subject="Invoice")
    assert new.customer_id == c.customer_id and new.split_from_id == c.pk
    assert new.subject == "Invoice" and new.team_id == c.team_id
    assert list(new.tags.values_list("name", flat=True)) == ["vip"]
    assert [m.body_text for m in new.messages.all()] == [
        "Also, my invoice is wrong.",
        "billing issue",
    ]
    assert c.messages.count() == 2
    source = Conversation.objects.get(pk=c.pk)
    assert source.last_message_at < new.last_message_at
    assert new.status == Status.NEW and new.first_responded_at is None
    assert TimelineEntry.objects.filter(conversation=c, kind="conversation_split").exists()
    assert (
        TimelineEntry.objects.get(conversation=new, kind="conversation_split_from").data[
            "source_id"
        ]
        == c.pk
    )
    assert events.of(ConversationOpened)[-1].conversation_id == new.pk
    split_event = events.of(ConversationSplit)[-1]
    assert split_event.conversation_id == c.pk and split_event.new_id == new.pk


def test_split_with_agent_reply_moved_counts_as_answered(customer, agent_x):
    c = make_conversation(customer)
    actions.receive_message(c, body_text="second question")
    later = Message.objects.filter(conversation=c).order_by("-id").first()
    actions.send_reply(c, agent=agent_x, body_text="answer")
    new = split_conversation(c, actor=agent_x, message_id=later.pk)
    assert new.status == Status.OPEN and new.first_responded_at is not None
    assert new.subject == c.subject


def test_cannot_split_at_the_first_message(thread, agent_x):
    c, _ = thread
    first = c.messages.order_by("created_at", "id").first()
    with pytest.raises(ActionError, match="first one stays"):
        split_conversation(c, actor=agent_x, message_id=first.pk)


def test_split_refuses_foreign_messages_and_non_agents(thread, customer, agent_x):
    c, second = thread
    other = make_conversation(customer)
    foreign = other.messages.get()
    with pytest.raises(ActionError, match="not in this conversation"):
        split_conversation(c, actor=agent_x, message_id=foreign.pk)
    with pytest.raises(ActionError, match="not in this conversation"):
        split_conversation(c, actor=agent_x, message_id=-1)
    with pytest.raises(ActionError, match="agent"):
        split_conversation(c, actor=UserFactory(), message_id=second.pk)
    assert c.messages.count() == 4  # nothing moved


def test_split_of_a_closed_conversation_is_refused(thread, agent_x):
    c, second = thread
    actions.set_status(c, actor=agent_x, status=Status.CLOSED)
    with pytest.raises(ActionError, match="closed"):
        split_conversation(c, actor=agent_x, message_id=second.pk)


def test_split_route(thread, agent_x, agent_y, client_for):
    c, second = thread
    assert client_for(agent_y).post(f"/c/{c.pk}/split/", {"message": second.pk}).status_code == 404
    response = client_for(agent_x).post(
        f"/c/{c.pk}/split/", {"message": second.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    new = Conversation.objects.get(split_from=c)
    assert response["HX-Redirect"] == f"/c/{new.pk}/"
    bad = client_for(agent_x).post(f"/c/{c.pk}/split/", {"message": "x' or 1=1"})
    assert bad.status_code == 400 and b"not a valid id" in bad.content
    page = client_for(agent_x).get(f"/c/{new.pk}/")
    assert f'href="/c/{c.pk}/"' in page.content.decode()  # "split from #…" and the timeline
