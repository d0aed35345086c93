"""Bulk actions on an inbox selection: each conversation through its action, each checked,
each failure reported."""

from __future__ import annotations

import pytest

from kefu.conversations import actions
from kefu.conversations.bulk import MAX_SELECTION, bulk_apply, parse_ids
from kefu.conversations.models import Conversation, Kind, Status
from kefu.core.errors import ActionError
from kefu.core.events import PriorityChanged
from kefu.customers.models import TimelineEntry
from tests.factories import UserFactory, make_conversation


@pytest.fixture
def three(customer, team_x):
    return [make_conversation(customer, team=team_x, subject=f"c{i}") for i in range(3)]


def ids(conversations):
    return [c.pk for c in conversations]


def test_priority_on_all_through_the_action(
    three, agent_x, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = bulk_apply(agent_x, ids(three), "priority", "high")
    assert result.done == ids(three) and result.failed == []
    assert set(Conversation.objects.values_list("priority", flat=True)) == {"high"}
    assert len(events.of(PriorityChanged)) == 3
    assert TimelineEntry.objects.filter(kind="priority_changed").count() == 3


def test_invisible_conversations_fail_as_not_found(three, agent_y):
    result = bulk_apply(agent_y, ids(three), "priority", "high")
    assert result.done == [] and [why for _pk, why in result.failed] == ["not found"] * 3
    assert set(Conversation.objects.values_list("priority", flat=True)) == {"normal"}


def test_per_item_failures_do_not_stop_the_others(three, agent_x):
    complaint = three[1]
    actions.set_kind(complaint, actor=agent_x, kind=Kind.COMPLAINT)
    result = bulk_apply(agent_x, ids(three), "status", "solved")
    assert result.done == [three[0].pk, three[2].pk]
    assert result.failed == [(complaint.pk, "acknowledge this complaint before solving it")]
    assert Conversation.objects.get(pk=complaint.pk).status != Status.SOLVED


def test_assign_team_and_tags(three, agent_x, agent_x2, team_y, supervisor):
    assert bulk_apply(agent_x, ids(three), "assign", str(agent_x2.pk)).done == ids(three)
    assert set(Conversation.objects.values_list("assignee", flat=True)) == {agent_x2.pk}
    assert bulk_apply(agent_x, ids(three), "assign", "me").done == ids(three)
    assert bulk_apply(agent_x, ids(three), "tag", " Refund ").done == ids(three)
    assert all(
        list(c.tags.values_list("name", flat=True)) == ["refund"]
        for c in Conversation.objects.all()
    )
    assert bulk_apply(agent_x, ids(three), "untag", "refund").done == ids(three)
    # Moving to a team the assignee is not in leaves them unassigned (no error).
    assert bulk_apply(supervisor, ids(three), "team", str(team_y.pk)).done == ids(three)
    assert set(Conversation.objects.values_list("team", "assignee")) == {(team_y.pk, None)}


@pytest.mark.parametrize(
    ("operation", "value", "message"),
    [
        ("delete", "", "unknown bulk action"),
        ("status", "gone", "unknown status"),
        ("priority", "<script>", "unknown priority"),
        ("assign", "1 or 1=1", "not an agent"),
        ("assign", "999999", "no such agent"),
        ("team", "x", "not a team"),
        ("team", "999999", "no such team"),
        ("tag", "", "1–64"),
        ("tag", "x" * 65, "1–64"),
    ],
)
def test_hostile_values_fail_before_anything_changes(three, agent_x, operation, value, message):
    with pytest.raises(ActionError, match=message):
        bulk_apply(agent_x, ids(three), operation, value)
    if operation == "status":
        assert set(Conversation.objects.values_list("status", flat=True)) == {"new"}


def test_status_failure_is_per_item(three, agent_x):
    actions.set_status(three[0], actor=agent_x, status=Status.CLOSED)
    result = bulk_apply(agent_x, ids(three), "status", "open")
    assert result.failed == [(three[0].pk, "a closed conversation cannot change status")]
    assert result.done == ids(three)[1:]


def test_parse_ids():
    assert parse_ids(["1", "#2", "2", " 3 "]) == [1, 2, 3]
    for bad in (["x"], ["1;drop"], ["-1"], ["1" * 19], []):
        with pytest.raises(ActionError):
            parse_ids(bad)
    with pytest.raises(ActionError, match="at most"):
        parse_ids([str(i) for i in range(1, MAX_SELECTION + 2)])


def test_only_agents(three):
    with pytest.raises(ActionError, match="agent"):
        bulk_apply(UserFactory(), ids(three), "priority", "high")


def test_bulk_route_reports_failures(three, agent_x, agent_y, customer, team_y, client_for):
    hidden = make_conversation(customer, team=team_y)
    response = client_for(agent_x).post(
        "/inbox/bulk/",
        {"ids": [*ids(three), hidden.pk], "op": "priority", "value_priority": "urgent"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{hidden.pk}" in html and "not found" in html
    assert response["HX-Trigger"] == "kefu:inbox-changed"
    assert Conversation.objects.get(pk=hidden.pk).priority == "normal"
    assert set(
        Conversation.objects.filter(team=three[0].team).values_list("priority", flat=True)
    ) == {"urgent"}
    bad = client_for(agent_x).post("/inbox/bulk/", {"ids": ["1 or 1"], "op": "priority"})
    assert bad.status_code == 400


def test_inbox_has_the_bulk_bar(three, agent_x, client_for):
    html = client_for(agent_x).get("/inbox/").content.decode()
    assert 'id="bulk-form"' in html and html.count('class="pick"') == 3
