"""conversations.actions: the one door that changes a conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from kefu.conversations import actions
from kefu.conversations.actions import NewAttachment
from kefu.conversations.models import Attachment, Channel, Conversation, Kind, Message, Priority
from kefu.conversations.models import Status as S
from kefu.core.errors import ActionError
from kefu.core.events import (
    ConversationAssigned,
    ConversationOpened,
    ConversationsMerged,
    KindChanged,
    MessageAdded,
    PriorityChanged,
    StatusChanged,
    TagsChanged,
)
from kefu.customers.models import TimelineEntry
from tests.factories import CustomerFactory, UserFactory, make_conversation


def fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run the block, then its on-commit callbacks (the test transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def conv(customer, team_x):
    return make_conversation(customer, team=team_x, subject="Broken kettle", body="It leaks.")


def set_raw_status(conversation: Conversation, status: str, **extra) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(status=status, **extra)
    return fresh(conversation)


# --- open_conversation -------------------------------------------------------------------


def test_open_conversation_stores_first_message_as_inbound(customer, team_x, events, commit):
    with commit():
        conversation = actions.open_conversation(
            customer=customer,
            channel=Channel.EMAIL,
            subject="  Where   is\nmy  order? ",
            body_text="Order 123 has not arrived.",
            team=team_x,
            priority=Priority.HIGH,
            kind=Kind.REQUEST,
            external_id="<abc@example.com>",
        )
    conversation = fresh(conversation)
    assert conversation.subject == "Where is my order?"
    assert conversation.status == S.NEW
    assert conversation.team == team_x
    assert conversation.priority == Priority.HIGH
    assert conversation.kind == Kind.REQUEST
    assert conversation.last_inbound_at is not None
    assert conversation.last_message_at is not None
    [message] = conversation.messages.all()
    assert message.direction == Message.Direction.IN
    assert message.author_customer == customer
    assert message.author_agent is None
    assert message.channel == Channel.EMAIL
    assert message.body_text == "Order 123 has not arrived."
    assert "Order 123 has not arrived." in message.body_html
    assert message.external_id == "<abc@example.com>"

    entry = TimelineEntry.objects.get(customer=customer, kind="conversation_opened")
    assert entry.conversation == conversation
    assert entry.data == {"channel": "email", "subject": "Where is my order?"}

    assert events.names() == ["ConversationOpened", "MessageAdded"]
    opened, added = events.received
    assert isinstance(opened, ConversationOpened)
    assert opened.conversation_id == conversation.pk
    assert opened.customer_id == customer.pk
    assert opened.channel == "email"
    assert opened.team_id == team_x.pk
    assert isinstance(added, MessageAdded)
    assert added.message_id == message.pk
    assert added.direction == "in"


def test_open_conversation_without_body_has_no_message(customer, events, commit):
    with commit():
        conversation = actions.open_conversation(
            customer=customer, channel=Channel.PHONE, subject="Missed call"
        )
    assert conversation.messages.count() == 0
    assert fresh(conversation).last_inbound_at is None
    assert events.names() == ["ConversationOpened"]


@pytest.mark.parametrize(
    "kwargs",
    [{"channel": "pigeon"}, {"priority": "whenever"}, {"kind": "rant"}],
)
def test_open_conversation_refuses_unknown_choices(customer, kwargs):
    params = {"channel": Channel.WEB, "subject": "x", "body_text": "y", **kwargs}
    with pytest.raises(ActionError):
        actions.open_conversation(customer=customer, **params)
    assert Conversation.objects.count() == 0


def test_open_conversation_refuses_merged_customer(customer):
    survivor = CustomerFactory()
    customer.merged_into = survivor
    customer.save()
    with pytest.raises(ActionError, match="merged"):
        make_conversation(customer)
    assert Conversation.objects.count() == 0


# --- receive_message ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.SOLVED, S.PENDING, S.ON_HOLD])
def test_receive_message_reopens_waiting_or_solved(conv, status, events, commit):
    conv = set_raw_status(conv, status, solved_at=timezone.now())
    with commit():
        message = actions.receive_message(conv, body_text="Still broken!")
    conv = fresh(conv)
    assert conv.status == S.OPEN
    assert conv.solved_at is None
    assert message.direction == Message.Direction.IN
    assert message.author_customer_id == conv.customer_id
    assert conv.messages.count() == 2
    assert events.names() == ["MessageAdded", "StatusChanged"]
    changed = events.of(StatusChanged)[0]
    assert (changed.old, changed.new) == (status, S.OPEN)
    assert TimelineEntry.objects.filter(
        conversation=conv, kind="status_changed", data__reason="customer_replied"
    ).exists()


def test_receive_message_keeps_new_and_open_status(conv, events, commit):
    with commit():
        actions.receive_message(conv, body_text="Any news?")
    assert fresh(conv).status == S.NEW
    assert events.names() == ["MessageAdded"]


def test_receive_message_refuses_closed_conversation(conv, events, commit):
    conv = set_raw_status(conv, S.CLOSED)
    with commit(), pytest.raises(ActionError, match="closed"):
        actions.receive_message(conv, body_text="Hello?")
    assert conv.messages.count() == 1
    assert events.received == []


def test_receive_message_refuses_empty_body(conv):
    with pytest.raises(ActionError, match="empty"):
        actions.receive_message(conv, body_text="   ")
    assert conv.messages.count() == 1


# --- send_reply --------------------------------------------------------------------------


def test_send_reply_answers_and_takes_the_conversation(conv, agent_x, events, commit):
    with commit():
        message = actions.send_reply(conv, agent=agent_x, body_text="We are on it.")
    conv = fresh(conv)
    assert message.direction == Message.Direction.OUT
    assert message.author_agent == agent_x
    assert conv.status == S.OPEN
    assert conv.first_responded_at is not None
    assert conv.assignee == agent_x  # whoever answers first owns it
    assert conv.team_id is not None  # the team stays
    assert TimelineEntry.objects.filter(
        conversation=conv, kind="reply_sent", actor=agent_x
    ).exists()
    assert events.names() == ["MessageAdded", "ConversationAssigned", "StatusChanged"]
    added = events.of(MessageAdded)[0]
    assert (added.direction, added.actor_id, added.assignee_id) == ("out", agent_x.pk, agent_x.pk)
    assert (events.of(StatusChanged)[0].old, events.of(StatusChanged)[0].new) == (S.NEW, S.OPEN)


def test_send_reply_auto_assignment_is_reported(conv, agent_x, events, commit):
    with commit():
        actions.send_reply(conv, agent=agent_x, body_text="Mine now")
    assigned = events.of(ConversationAssigned)
    assert [(e.previous_assignee_id, e.assignee_id) for e in assigned] == [(None, agent_x.pk)]
    assert TimelineEntry.objects.filter(conversation=conv, kind="assigned").exists()


def test_send_reply_keeps_first_response_time_and_assignee(conv, agent_x, agent_x2):
    actions.assign(conv, actor=agent_x, assignee=agent_x2, team=conv.team)
    actions.send_reply(conv, agent=agent_x2, body_text="First")
    first = fresh(conv).first_responded_at
    actions.send_reply(conv, agent=agent_x, body_text="Second")
    conv = fresh(conv)
    assert conv.first_responded_at == first
    assert conv.assignee == agent_x2


def test_send_reply_with_status_pending(conv, agent_x):
    actions.send_reply(conv, agent=agent_x, body_text="Please send a photo.", status=S.PENDING)
    assert fresh(conv).status == S.PENDING


def test_send_reply_and_solve_sets_solved_at(conv, agent_x):
    actions.send_reply(conv, agent=agent_x, body_text="Fixed.", status=S.SOLVED)
    conv = fresh(conv)
    assert conv.status == S.SOLVED
    assert conv.solved_at is not None


def test_send_reply_refuses_unknown_status(conv, agent_x):
    with pytest.raises(ActionError):
        actions.send_reply(conv, agent=agent_x, body_text="x", status="maybe")
    assert conv.messages.count() == 1


def test_send_reply_cannot_put_a_conversation_back_to_new(conv, agent_x):
    """Regression. set_status refuses "back to new"; send_reply must not be a side door."""
    actions.send_reply(conv, agent=agent_x, body_text="Hello")
    assert fresh(conv).status == S.OPEN
    with pytest.raises(ActionError):
        actions.send_reply(conv, agent=agent_x, body_text="Again", status=S.NEW)
    assert fresh(conv).status == S.OPEN


def test_send_reply_reopening_a_solved_conversation_clears_solved_at(conv, agent_x):
    """Regression. Like set_status: an open conversation has no solved time."""
    actions.send_reply(conv, agent=agent_x, body_text="Fixed.", status=S.SOLVED)
    actions.send_reply(conv, agent=agent_x, body_text="Actually, one more thing", status=S.OPEN)
    conv = fresh(conv)
    assert conv.status == S.OPEN
    assert conv.solved_at is None


def test_send_reply_refused_for_non_agents(conv, customer_user_factory):
    portal_user, _ = customer_user_factory("portal")
    plain_user = UserFactory(username="plain")
    for who in (portal_user, plain_user, None):
        with pytest.raises(ActionError, match="agent"):
            actions.send_reply(conv, agent=who, body_text="I am not staff")
    assert conv.messages.count() == 1
    assert fresh(conv).assignee is None


def test_send_reply_refused_for_deactivated_agent(conv, agent_x):
    agent_x.is_active = False
    agent_x.save()
    with pytest.raises(ActionError):
        actions.send_reply(conv, agent=agent_x, body_text="hi")


def test_send_reply_refuses_closed_conversation(conv, agent_x):
    conv = set_raw_status(conv, S.CLOSED)
    with pytest.raises(ActionError, match="closed"):
        actions.send_reply(conv, agent=agent_x, body_text="hi")


# --- add_note ----------------------------------------------------------------------------


def test_add_note_is_internal(conv, agent_x, events, commit):
    with commit():
        note = actions.add_note(conv, agent=agent_x, body_text="Customer is upset, be gentle.")
    conv = fresh(conv)
    assert note.direction == Message.Direction.NOTE
    assert note.author_agent == agent_x
    assert conv.status == S.NEW  # a note is no answer
    assert conv.first_responded_at is None
    assert conv.assignee is None
    assert TimelineEntry.objects.filter(conversation=conv, kind="note_added").exists()
    assert events.names() == ["MessageAdded"]
    assert events.received[0].direction == "note"


def test_add_note_refused_for_non_agent(conv):
    with pytest.raises(ActionError):
        actions.add_note(conv, agent=UserFactory(username="nobody"), body_text="x")


# --- assign ------------------------------------------------------------------------------


def test_assign_to_team_member(conv, agent_x, agent_x2, events, commit):
    with commit():
        actions.assign(conv, actor=agent_x, assignee=agent_x2, team=conv.team)
    conv = fresh(conv)
    assert conv.assignee == agent_x2
    [event] = events.received
    assert isinstance(event, ConversationAssigned)
    assert event.assignee_id == agent_x2.pk
    assert event.previous_assignee_id is None
    assert event.previous_team_id == conv.team_id
    entry = TimelineEntry.objects.get(conversation=conv, kind="assigned")
    assert entry.actor == agent_x
    assert entry.data["team"] == "Team X"


def test_assign_refuses_agent_outside_the_team(conv, agent_x, agent_y, events, commit):
    with commit(), pytest.raises(ActionError, match="not a member"):
        actions.assign(conv, actor=agent_x, assignee=agent_y, team=conv.team)
    assert fresh(conv).assignee is None
    assert events.received == []


def test_assign_supervisor_to_any_team(conv, agent_x, supervisor, team_y):
    actions.assign(conv, actor=agent_x, assignee=supervisor, team=team_y)
    conv = fresh(conv)
    assert (conv.assignee, conv.team) == (supervisor, team_y)


def test_assign_refuses_non_agent(conv, agent_x):
    with pytest.raises(ActionError, match="not an active agent"):
        actions.assign(conv, actor=agent_x, assignee=UserFactory(username="x"), team=None)


def test_assign_unchanged_is_a_noop(conv, agent_x, events, commit):
    actions.assign(conv, actor=agent_x, assignee=agent_x, team=conv.team)
    entries = TimelineEntry.objects.filter(kind="assigned").count()
    with commit():
        actions.assign(fresh(conv), actor=agent_x, assignee=agent_x, team=fresh(conv).team)
    assert events.received == []
    assert TimelineEntry.objects.filter(kind="assigned").count() == entries


def test_assign_to_general_queue_and_unassign(conv, agent_x, events, commit):
    actions.assign(conv, actor=agent_x, assignee=agent_x, team=conv.team)
    with commit():
        actions.assign(conv, actor=agent_x, assignee=None, team=None)
    conv = fresh(conv)
    assert (conv.assignee, conv.team) == (None, None)
    [event] = events.received
    assert event.previous_assignee_id == agent_x.pk
    assert event.team_id is None


# --- set_status --------------------------------------------------------------------------


def test_set_status_solved_sets_and_reopen_clears_solved_at(conv, agent_x, events, commit):
    with commit():
        actions.set_status(conv, actor=agent_x, status=S.SOLVED)
    assert fresh(conv).solved_at is not None
    with commit():
        actions.set_status(conv, actor=agent_x, status=S.OPEN)
    conv = fresh(conv)
    assert conv.status == S.OPEN
    assert conv.solved_at is None
    assert [(e.old, e.new) for e in events.of(StatusChanged)] == [
        (S.NEW, S.SOLVED),
        (S.SOLVED, S.OPEN),
    ]
    assert TimelineEntry.objects.filter(conversation=conv, kind="status_changed").count() == 2


def test_set_status_cannot_go_back_to_new(conv, agent_x):
    actions.set_status(conv, actor=agent_x, status=S.OPEN)
    with pytest.raises(ActionError, match="new"):
        actions.set_status(conv, actor=agent_x, status=S.NEW)
    assert fresh(conv).status == S.OPEN


def test_set_status_closed_is_final(conv, agent_x):
    actions.set_status(conv, actor=agent_x, status=S.CLOSED)
    for status in (S.OPEN, S.SOLVED, S.PENDING):
        with pytest.raises(ActionError, match="closed"):
            actions.set_status(conv, actor=agent_x, status=status)
    assert fresh(conv).status == S.CLOSED


def test_set_status_same_or_unknown(conv, agent_x, events, commit):
    with commit():
        actions.set_status(conv, actor=agent_x, status=S.NEW)
    assert events.received == []
    with pytest.raises(ActionError):
        actions.set_status(conv, actor=agent_x, status="archived")


# --- set_priority / set_kind ---------------------------------------------------------------


def test_set_priority(conv, agent_x, events, commit):
    with commit():
        actions.set_priority(conv, actor=agent_x, priority=Priority.URGENT)
        actions.set_priority(conv, actor=agent_x, priority=Priority.URGENT)  # no-op
    assert fresh(conv).priority == Priority.URGENT
    [event] = events.received
    assert isinstance(event, PriorityChanged)
    assert (event.old, event.new) == (Priority.NORMAL, Priority.URGENT)
    with pytest.raises(ActionError):
        actions.set_priority(conv, actor=agent_x, priority="asap")
    assert TimelineEntry.objects.filter(conversation=conv, kind="priority_changed").count() == 1


def test_set_kind(conv, agent_x, events, commit):
    with commit():
        actions.set_kind(conv, actor=agent_x, kind=Kind.COMPLAINT)
    assert fresh(conv).kind == Kind.COMPLAINT
    [event] = events.received
    assert isinstance(event, KindChanged)
    assert (event.old, event.new) == (Kind.QUESTION, Kind.COMPLAINT)
    with pytest.raises(ActionError):
        actions.set_kind(conv, actor=agent_x, kind="gossip")
    assert fresh(conv).kind == Kind.COMPLAINT


# --- tag ---------------------------------------------------------------------------------


def tag_names(conversation: Conversation) -> set[str]:
    return set(fresh(conversation).tags.values_list("name", flat=True))


def test_tag_normalizes_adds_and_removes(conv, agent_x, events, commit):
    with commit():
        actions.tag(conv, actor=agent_x, add=["  Refund ", "VIP   Customer", "refund"])
    assert tag_names(conv) == {"refund", "vip customer"}
    with commit():
        actions.tag(conv, actor=agent_x, add=["Shipping"], remove=["REFUND", "never-there"])
    assert tag_names(conv) == {"shipping", "vip customer"}
    first, second = events.of(TagsChanged)
    assert (first.added, first.removed) == (("refund", "vip customer"), ())
    assert (second.added, second.removed) == (("shipping",), ("refund",))
    entry = TimelineEntry.objects.filter(kind="tags_changed").order_by("id").last()
    assert entry.data == {"added": ["shipping"], "removed": ["refund"]}


def test_tag_unchanged_emits_nothing(conv, agent_x, events, commit):
    actions.tag(conv, actor=agent_x, add=["refund"])
    with commit():
        actions.tag(conv, actor=agent_x, add=["Refund"], remove=["absent"])
    assert events.received == []


@pytest.mark.parametrize("bad", ["", "   ", "x" * 65])
def test_tag_refuses_bad_names(conv, agent_x, bad):
    with pytest.raises(ActionError):
        actions.tag(conv, actor=agent_x, add=[bad])
    assert tag_names(conv) == set()


# --- merge_conversations -----------------------------------------------------------------


def test_merge_moves_messages_and_closes_source(customer, team_x, agent_x, events, commit):
    target = make_conversation(customer, team=team_x, subject="Kettle", body="First mail")
    source = make_conversation(customer, team=team_x, subject="Kettle again", body="Second mail")
    actions.add_note(source, agent=agent_x, body_text="dup?")
    actions.tag(target, actor=agent_x, add=["kettle"])
    actions.tag(source, actor=agent_x, add=["kettle", "duplicate"])
    with commit():
        result = actions.merge_conversations(source, target, actor=agent_x)
    source, target = fresh(source), fresh(target)
    assert result.pk == target.pk
    assert source.messages.count() == 0
    assert list(target.messages.values_list("body_text", flat=True)) == [
        "First mail",
        "Second mail",
        "dup?",
    ]
    assert source.status == S.CLOSED
    assert source.merged_into == target
    assert tag_names(target) == {"kettle", "duplicate"}
    assert target.last_message_at >= source.last_message_at
    merged = events.of(ConversationsMerged)
    assert [(e.conversation_id, e.source_id) for e in merged] == [(target.pk, source.pk)]
    closed = events.of(StatusChanged)
    assert [(e.conversation_id, e.new) for e in closed] == [(source.pk, S.CLOSED)]
    assert TimelineEntry.objects.filter(conversation=target, kind="conversation_merged").exists()


def test_merging_a_closed_conversation_reports_no_status_change(
    customer, agent_x, events, django_capture_on_commit_callbacks
):
    target = make_conversation(customer)
    source = make_conversation(customer)
    actions.set_status(source, actor=agent_x, status=S.CLOSED)
    with django_capture_on_commit_callbacks(execute=True):
        actions.merge_conversations(source, target, actor=agent_x)
    assert fresh(source).merged_into_id == target.pk
    assert [(e.old, e.new) for e in events.of(StatusChanged)] == []
    assert TimelineEntry.objects.filter(conversation=source, kind="status_changed").count() == 1


def test_merge_refusals(customer, agent_x):
    a, b, c = (make_conversation(customer) for _ in range(3))
    with pytest.raises(ActionError, match="itself"):
        actions.merge_conversations(a, a, actor=agent_x)
    with pytest.raises(ActionError):
        actions.merge_conversations(a, b, actor=UserFactory(username="outsider"))
    actions.merge_conversations(a, b, actor=agent_x)
    with pytest.raises(ActionError, match="already merged"):
        actions.merge_conversations(a, c, actor=agent_x)
    with pytest.raises(ActionError, match="closed"):
        actions.merge_conversations(c, a, actor=agent_x)  # a is closed now
    assert fresh(c).messages.count() == 1
    assert fresh(c).status == S.NEW


# --- sanitizing and attachments ----------------------------------------------------------

HOSTILE = (
    '<p onclick="steal()">Hi</p><script>alert(1)</script>'
    '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">click</a>'
    '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>'
    '<a href="https://example.com/ok">fine</a>'
)


def test_hostile_html_is_sanitized(conv):
    message = actions.receive_message(conv, body_text="Hi", body_html=HOSTILE)
    html = Message.objects.get(pk=message.pk).body_html.lower()
    for bad in ("<script", "alert(1)", "onerror", "onclick", "javascript:", "<iframe", "<style"):
        assert bad not in html
    assert "<p>hi</p>" in html
    assert 'href="https://example.com/ok"' in html
    assert "noopener" in html


def test_hostile_html_in_first_message_is_sanitized(customer):
    conversation = actions.open_conversation(
        customer=customer, channel=Channel.EMAIL, subject="x", body_text="", body_html=HOSTILE
    )
    html = conversation.messages.get().body_html.lower()
    assert "<script" not in html
    assert "onerror" not in html


def test_plain_text_is_escaped(conv, agent_x):
    message = actions.send_reply(conv, agent=agent_x, body_text="<script>alert(1)</script>")
    assert "<script>" not in message.body_html
    assert "&lt;script&gt;" in message.body_html


@pytest.fixture
def small_attachments(settings, media_root):
    settings.KEFU_MAX_ATTACHMENT_BYTES = 10
    return settings


def test_attachments_are_stored(conv, agent_x, small_attachments):
    message = actions.send_reply(
        conv,
        agent=agent_x,
        body_text="See attached",
        attachments=[
            NewAttachment("../../etc/passwd", b"12345", "text/plain"),
            NewAttachment("photo.jpg", b"\xff\xd8\xff", "image/jpeg"),
        ],
    )
    stored = {a.filename: a for a in message.attachments.all()}
    assert set(stored) == {".._.._etc_passwd", "photo.jpg"}
    passwd = stored[".._.._etc_passwd"]
    assert passwd.size == 5
    assert passwd.content_type == "text/plain"
    assert passwd.file.name.startswith(f"attachments/{conv.pk}/{message.pk}/")
    assert ".." not in passwd.file.name.split("/")
    with passwd.file.open("rb") as f:
        assert f.read() == b"12345"


def test_attachment_over_the_limit_is_refused(conv, agent_x, small_attachments):
    with pytest.raises(ActionError, match="limit"):
        actions.send_reply(
            conv, agent=agent_x, body_text="big", attachments=[NewAttachment("big.bin", b"x" * 11)]
        )
    with pytest.raises(ActionError, match="limit"):
        actions.receive_message(
            conv, body_text="big", attachments=[NewAttachment("big.bin", b"x" * 11)]
        )
    assert conv.messages.count() == 1  # nothing half-written
    assert Attachment.objects.count() == 0
    assert fresh(conv).assignee is None


def test_refused_upload_leaves_no_files_behind(conv, agent_x, small_attachments):
    with pytest.raises(ActionError):
        actions.send_reply(
            conv,
            agent=agent_x,
            body_text="two files",
            attachments=[NewAttachment("small.txt", b"ok"), NewAttachment("big.bin", b"x" * 11)],
        )
    assert Attachment.objects.count() == 0
    root = Path(small_attachments.MEDIA_ROOT)
    assert not root.exists() or [p for p in root.rglob("*") if p.is_file()] == []


def test_open_conversation_with_oversized_attachment_creates_nothing(customer, small_attachments):
    with pytest.raises(ActionError):
        actions.open_conversation(
            customer=customer,
            channel=Channel.EMAIL,
            subject="x",
            body_text="y",
            attachments=[NewAttachment("big.bin", b"x" * 11)],
        )
    assert Conversation.objects.count() == 0
    assert Message.objects.count() == 0
    assert not TimelineEntry.objects.filter(kind="conversation_opened").exists()
