"""Complaints: acknowledged by a person, solved only with a resolution note and a root cause;
solved conversations reopen on the customer's reply only within KEFU_REOPEN_DAYS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.conversations import actions, complaints
from kefu.conversations.closing import close_stale_solved
from kefu.conversations.models import Conversation, Kind, RootCause, Status
from kefu.core.errors import ActionError
from kefu.core.events import ComplaintHandled, StatusChanged
from kefu.customers.models import TimelineEntry
from tests.factories import UserFactory, make_conversation


def fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


@pytest.fixture
def complaint(customer, team_x):
    return make_conversation(customer, team=team_x, kind=Kind.COMPLAINT, subject="投诉")


@pytest.fixture
def cause(db):
    return RootCause.objects.get(name="产品质量 Product quality")  # a default (data migration)


def test_defaults_list_root_causes(db):
    assert RootCause.objects.filter(active=True).count() >= 5


def test_acknowledge_is_recorded_with_the_agent(complaint, agent_x):
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    c = fresh(complaint)
    assert c.acknowledged_at is not None and c.acknowledged_by == agent_x
    assert TimelineEntry.objects.filter(
        conversation=c, kind="complaint_acknowledged", actor=agent_x
    ).exists()


def test_acknowledge_twice_or_of_a_question_is_refused(complaint, agent_x, customer):
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    with pytest.raises(ActionError, match="already acknowledged"):
        complaints.acknowledge_complaint(complaint, actor=agent_x)
    question = make_conversation(customer)
    with pytest.raises(ActionError, match="only a complaint"):
        complaints.acknowledge_complaint(question, actor=agent_x)


def test_only_an_agent_acknowledges(complaint):
    with pytest.raises(ActionError, match="agent"):
        complaints.acknowledge_complaint(complaint, actor=None)
    with pytest.raises(ActionError, match="agent"):
        complaints.acknowledge_complaint(complaint, actor=UserFactory())


def test_automatic_acknowledgment_does_not_count(complaint, agent_x):
    """The mail app's auto-acknowledgment writes an 'acknowledged' timeline line; the complaint
    still waits for a person."""
    from kefu.customers.timeline import record

    record(complaint.customer, "acknowledged", conversation=complaint)
    assert fresh(complaint).acknowledged_at is None
    with pytest.raises(ActionError, match="acknowledge this complaint"):
        actions.set_status(complaint, actor=agent_x, status=Status.SOLVED)


def test_solving_needs_ack_note_and_cause(complaint, agent_x, cause):
    with pytest.raises(ActionError, match="acknowledge"):
        actions.set_status(complaint, actor=agent_x, status=Status.SOLVED)
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    with pytest.raises(ActionError, match="resolution note and a root cause"):
        actions.set_status(complaint, actor=agent_x, status=Status.SOLVED)
    with pytest.raises(ActionError, match="resolution note and a root cause"):
        actions.send_reply(complaint, agent=agent_x, body_text="Done.", status=Status.SOLVED)
    with pytest.raises(ActionError, match="resolution note and a root cause"):
        actions.set_status(complaint, actor=agent_x, status=Status.CLOSED)
    assert fresh(complaint).status != Status.SOLVED
    # Replying without solving is fine.
    actions.send_reply(complaint, agent=agent_x, body_text="We are on it.")


def test_resolve_records_and_solves(
    complaint, agent_x, cause, events, django_capture_on_commit_callbacks
):
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    with django_capture_on_commit_callbacks(execute=True):
        complaints.resolve_complaint(
            complaint, actor=agent_x, note="Replaced the water tank.", root_cause=cause.pk
        )
    c = fresh(complaint)
    assert c.status == Status.SOLVED and c.root_cause == cause
    assert c.resolution_note == "Replaced the water tank."
    assert [e.what for e in events.of(ComplaintHandled)] == ["resolution"]
    assert events.of(StatusChanged)[-1].new == Status.SOLVED
    entry = TimelineEntry.objects.get(conversation=c, kind="complaint_resolution")
    assert entry.data["root_cause"] == cause.name


def test_resolve_refused_before_ack_leaves_nothing_written(complaint, agent_x, cause):
    with pytest.raises(ActionError, match="acknowledge"):
        complaints.resolve_complaint(complaint, actor=agent_x, note="x", root_cause=cause)
    c = fresh(complaint)
    assert c.resolution_note == "" and c.root_cause is None  # rolled back with the refusal


@pytest.mark.parametrize(
    ("note", "cause_value", "message"),
    [
        ("", "cause", "resolution note"),
        ("   \x00 ", "cause", "resolution note"),
        ("x" * 5001, "cause", "at most"),
        ("ok", None, "root cause"),
        ("ok", "abc", "no such root cause"),
        ("ok", "999999", "no such root cause"),
        ("ok", "inactive", "no such root cause"),
    ],
)
def test_resolve_hostile_input(complaint, agent_x, cause, note, cause_value, message):
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    if cause_value == "cause":
        cause_value = cause.pk
    elif cause_value == "inactive":
        cause_value = RootCause.objects.create(name="old", active=False).pk
    with pytest.raises(ActionError, match=message):
        complaints.resolve_complaint(complaint, actor=agent_x, note=note, root_cause=cause_value)


def test_resolve_solve_false_only_records(complaint, agent_x, cause):
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    complaints.resolve_complaint(complaint, actor=agent_x, note="n", root_cause=cause, solve=False)
    assert fresh(complaint).status != Status.SOLVED
    actions.set_status(complaint, actor=agent_x, status=Status.SOLVED)  # now allowed
    assert fresh(complaint).status == Status.SOLVED


def test_questions_solve_as_before(customer, agent_x):
    c = make_conversation(customer)
    actions.set_status(c, actor=agent_x, status=Status.SOLVED)
    assert fresh(c).status == Status.SOLVED


def test_open_complaints_for_a_supervisor(complaint, supervisor, agent_y, customer, team_y):
    make_conversation(customer, team=team_y)  # a question: not listed
    found = list(complaints.open_complaints(supervisor))
    assert found == [complaint]
    assert list(complaints.open_complaints(agent_y)) == []  # not their team


# Reopen window -------------------------------------------------------------------------


def _solved(customer, agent, days_ago: float) -> Conversation:
    c = make_conversation(customer)
    actions.set_status(c, actor=agent, status=Status.SOLVED)
    Conversation.objects.filter(pk=c.pk).update(solved_at=timezone.now() - timedelta(days=days_ago))
    return fresh(c)


def test_reply_within_the_window_reopens(customer, agent_x, settings):
    settings.KEFU_REOPEN_DAYS = 7
    c = _solved(customer, agent_x, 6.9)
    actions.receive_message(c, body_text="still broken")
    assert fresh(c).status == Status.OPEN


def test_reply_after_the_window_is_refused_for_a_follow_up(customer, agent_x, settings):
    settings.KEFU_REOPEN_DAYS = 7
    c = _solved(customer, agent_x, 7.1)
    assert not c.takes_customer_replies
    with pytest.raises(ActionError, match="more than 7 days ago"):
        actions.receive_message(c, body_text="hello again")
    assert fresh(c).status == Status.SOLVED


def test_close_stale_solved(customer, agent_x, settings):
    settings.KEFU_REOPEN_DAYS = 3
    old = _solved(customer, agent_x, 4)
    recent = _solved(customer, agent_x, 1)
    assert close_stale_solved() == 1
    assert fresh(old).status == Status.CLOSED
    assert fresh(recent).status == Status.SOLVED
    assert TimelineEntry.objects.filter(conversation=old, kind="status_changed").count() == 2


def test_email_reply_after_the_window_opens_a_follow_up(team_x, agent_x, settings, tmp_path):
    """Mail threading treats a conversation solved too long ago as final."""
    from kefu.mail.ingest import ingest
    from kefu.mail.models import Mailbox
    from tests.mail.builders import raw_email

    settings.KEFU_REOPEN_DAYS = 7
    settings.MEDIA_ROOT = tmp_path
    mailbox = Mailbox.objects.create(name="Support", address="support@kefu.test", team=team_x)
    first = ingest(raw_email(message_id="<w1@example.cn>"), mailbox=mailbox)
    conversation = first.conversation_message.conversation
    actions.set_status(conversation, actor=agent_x, status=Status.SOLVED)
    Conversation.objects.filter(pk=conversation.pk).update(
        solved_at=timezone.now() - timedelta(days=8)
    )
    later = ingest(raw_email(in_reply_to="<w1@example.cn>", body="又坏了"), mailbox=mailbox)
    assert later.conversation_message.conversation != conversation
    assert fresh(conversation).status == Status.SOLVED


def test_solved_complaint_closes_after_the_window(complaint, agent_x, cause, settings):
    settings.KEFU_REOPEN_DAYS = 1
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    complaints.resolve_complaint(complaint, actor=agent_x, note="ok", root_cause=cause)
    Conversation.objects.filter(pk=complaint.pk).update(
        solved_at=timezone.now() - timedelta(days=2)
    )
    assert close_stale_solved() == 1
    assert fresh(complaint).status == Status.CLOSED


# Routes and API --------------------------------------------------------------------------


def test_acknowledge_and_resolve_routes(complaint, agent_x, agent_y, cause, client_for):
    client = client_for(agent_x)
    page = client.get(f"/c/{complaint.pk}/").content.decode()
    assert 'id="acknowledge"' in page and 'id="complaint-box"' in page
    refused = client.post(f"/c/{complaint.pk}/status/", {"status": "solved"})
    assert refused.status_code == 400 and b"acknowledge this complaint" in refused.content
    assert client_for(agent_y).post(f"/c/{complaint.pk}/acknowledge/").status_code == 404
    response = client.post(f"/c/{complaint.pk}/acknowledge/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="acknowledge"' not in response.content.decode()
    again = client.post(f"/c/{complaint.pk}/acknowledge/")
    assert again.status_code == 400 and b"already acknowledged" in again.content
    missing = client.post(f"/c/{complaint.pk}/resolve/", {"note": "fixed", "root_cause": ""})
    assert missing.status_code == 400 and b"root cause" in missing.content
    hostile = client.post(f"/c/{complaint.pk}/resolve/", {"note": "x", "root_cause": "1;--"})
    assert hostile.status_code == 400
    done = client.post(f"/c/{complaint.pk}/resolve/", {"note": "fixed", "root_cause": cause.pk})
    assert done.status_code == 302
    assert fresh(complaint).status == Status.SOLVED


def test_api_set_status_explains_the_refusal(complaint, agent_x):
    from django.test import Client

    from kefu.api.tokens import create_token
    from tests.api.conftest import ApiClient

    api = ApiClient(Client(), create_token(agent_x))
    response = api.post(f"/api/conversations/{complaint.pk}/status", {"status": "solved"})
    assert response.status_code == 400
    assert "acknowledge this complaint" in response.content.decode()


def test_open_complaints_page(complaint, agent_x, supervisor, client_for):
    assert client_for(agent_x).get("/complaints/").status_code == 403
    html = client_for(supervisor).get("/complaints/").content.decode()
    assert f'id="complaint-{complaint.pk}"' in html and 'class="unacked"' in html
    complaints.acknowledge_complaint(complaint, actor=agent_x)
    html = client_for(supervisor).get("/complaints/").content.decode()
    assert 'class="unacked"' not in html and "agent.x" in html


def test_open_complaints_page_queries_do_not_grow(
    customer, team_x, supervisor, client_for, django_assert_max_num_queries
):
    for _ in range(5):
        make_conversation(customer, team=team_x, kind=Kind.COMPLAINT)
    client = client_for(supervisor)
    client.get("/complaints/")
    with django_assert_max_num_queries(12):
        client.get("/complaints/")


def test_api_acknowledge_resolve_split_and_link(complaint, agent_x, agent_y, cause):
    from django.test import Client

    from kefu.api.tokens import create_token
    from tests.api.conftest import ApiClient

    api = ApiClient(Client(), create_token(agent_x))
    base = f"/api/conversations/{complaint.pk}"
    body = api.post(f"{base}/acknowledge").json()
    assert body["acknowledged_at"] is not None
    assert api.post(f"{base}/acknowledge").status_code == 400
    assert ApiClient(Client(), create_token(agent_y)).post(f"{base}/acknowledge").status_code == 404
    bad = api.post(f"{base}/resolve", {"note": "", "root_cause_id": cause.pk})
    assert bad.status_code == 422
    bad = api.post(f"{base}/resolve", {"note": "ok", "root_cause_id": 99999})
    assert bad.status_code == 400 and "no such root cause" in bad.content.decode()
    done = api.post(f"{base}/resolve", {"note": "换了新水箱", "root_cause_id": cause.pk})
    assert done.status_code == 200 and done.json()["status"] == "solved"

    actions.receive_message(complaint, body_text="another thing")
    later = complaint.messages.order_by("-id").first()
    split = api.post(f"{base}/split", {"message_id": later.pk, "subject": "另一件事"})
    assert split.status_code == 201 and split.json()["split_from_id"] == complaint.pk
    new_id = split.json()["id"]
    assert api.post(f"{base}/links", {"other_id": new_id}).status_code == 204
    assert api.post(f"{base}/links", {"other_id": new_id}).status_code == 400


def test_the_hourly_job_closes_stale_solved_conversations(customer, agent_x, settings):
    from kefu.conversations.tasks import close_solved
    from kefu.core import scheduler

    assert "close-solved" in {job.name for job in scheduler.jobs()}
    settings.KEFU_REOPEN_DAYS = 2
    old = _solved(customer, agent_x, 3)
    assert close_solved.call() == 1
    assert fresh(old).status == Status.CLOSED
