"""Bad input is a 4xx with a JSON message, never a 500 (the test client re-raises errors)."""

from __future__ import annotations

import pytest

from kefu.conversations import actions
from kefu.conversations.models import Conversation
from tests.factories import make_conversation

HUGE = 10**30


@pytest.fixture
def conversation(team_x):
    return make_conversation(team=team_x)


def check(response, status: int) -> object:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail
    return detail


@pytest.mark.parametrize(
    ("action", "payload", "status"),
    [
        ("status", {"status": "done"}, 422),
        ("status", {}, 422),
        ("status", {"status": None}, 422),
        ("priority", {"priority": "asap"}, 422),
        ("reply", {"body": ""}, 400),
        ("reply", {"body": "   \n "}, 400),
        ("reply", {"body": "ok", "status": "bogus"}, 422),
        ("reply", {}, 422),
        ("reply", {"body": 12}, 422),
        ("reply", {"body": "x" * 200_001}, 400),
        ("note", {"body": ""}, 400),
        ("messages", {"body": ""}, 400),
        ("messages", {"body": "hi", "channel": "pigeon"}, 422),
        ("messages", {"body": "hi", "metadata": "not an object"}, 422),
        ("assign", {"team_id": 424242}, 404),
        ("assign", {"assignee_id": HUGE}, 422),
        ("assign", {"team_id": -1}, 422),
        ("assign", {"team_id": "x"}, 422),
        ("tags", {"add": "refund"}, 422),
        ("tags", {"add": ["x"] * 51}, 422),
    ],
)
def test_bad_changes(api_x, conversation, action, payload, status):
    check(api_x.post(f"/api/conversations/{conversation.pk}/{action}", payload), status)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"customer_id": 1, "team_id": 424242}, 404),
        ({"customer": {"email": "a@example.com"}, "channel": "fax"}, 422),
        ({"customer": {"email": "a@example.com"}, "priority": "whenever"}, 422),
        ({"customer": {"email": "a@example.com"}, "kind": "rant"}, 422),
        ({"customer": {"email": "not an email"}}, 400),
        ({"customer": {"phone": "12"}}, 400),
        ({"customer": {"name": "no contact"}}, 400),
        ({"customer": {"email": "a" * 300 + "@example.com"}}, 422),
        ({"customer": {"email": "a@example.com"}, "language": "x" * 11}, 422),
        ({"customer_id": HUGE}, 422),
        ({"customer_id": 0}, 422),
    ],
)
def test_bad_new_conversations(api_x, customer, payload, status):
    if payload.get("customer_id") == 1:
        payload = {**payload, "customer_id": customer.pk}
    check(api_x.post("/api/conversations", payload), status)
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("raw", ["{not json", "", "[]", '"text"', "null", '{"body": '])
def test_malformed_json(api_x, conversation, raw):
    response = api_x.post(f"/api/conversations/{conversation.pk}/reply", raw=raw)
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
    assert conversation.messages.count() == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 10**6},
        {"limit": 0},
        {"limit": -5},
        {"limit": "ten"},
        {"offset": -1},
        {"offset": HUGE},
        {"status": "whatever"},
        {"priority": "p1"},
        {"kind": "other"},
        {"channel": "fax"},
        {"team": "x"},
        {"team": HUGE},
        {"customer": -3},
        {"assignee": "someone"},
        {"assignee": str(HUGE)},
        {"tag": "t" * 65},
    ],
)
def test_bad_list_parameters(api_x, conversation, params):
    check(api_x.get("/api/conversations", params), 422)


@pytest.mark.parametrize("params", [{"limit": 10**6}, {"offset": HUGE}, {"tier": "gold"}])
def test_bad_customer_list_parameters(api_x, params):
    check(api_x.get("/api/customers", params), 422)


@pytest.mark.parametrize(
    "path",
    [
        "/api/conversations/abc",
        f"/api/conversations/{HUGE}",
        "/api/conversations/0",
        "/api/customers/abc",
        f"/api/customers/{HUGE}",
    ],
)
def test_bad_ids_in_the_path(api_x, path):
    check(api_x.get(path), 422)


@pytest.mark.parametrize("path", ["/api/conversations/987654", "/api/customers/987654"])
def test_unknown_ids_are_404(api_x, path):
    check(api_x.get(path), 404)


def test_unknown_conversation_for_changes_is_404(api_x, db):
    check(api_x.post("/api/conversations/987654/reply", {"body": "hi"}), 404)


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("reply", {"body": "nul \x00 byte"}),
        ("messages", {"body": "hi", "metadata": {"k": "nul \x00"}}),
        ("messages", {"body": "hi", "external_id": "\x00"}),
        ("tags", {"add": ["a\x00b"]}),
    ],
)
def test_nul_characters_are_refused(api_x, conversation, path, payload):
    # PostgreSQL cannot store them; refuse them up front on every database.
    check(api_x.post(f"/api/conversations/{conversation.pk}/{path}", payload), 422)


def test_nul_characters_in_filters_are_refused(api_x, db):
    check(api_x.get("/api/customers", {"q": "a\x00"}), 422)
    check(api_x.get("/api/conversations", {"tag": "a\x00"}), 422)


def test_a_body_over_the_upload_limit_is_413(api_x, conversation, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_x.post(f"/api/conversations/{conversation.pk}/reply", {"body": "x" * 2000})
    assert check(response, 413) == "the request body is too large"


def test_closed_conversation_refuses_a_reply(api_x, agent_x, conversation):
    actions.set_status(conversation, actor=agent_x, status="closed")
    detail = check(api_x.post(f"/api/conversations/{conversation.pk}/reply", {"body": "hi"}), 400)
    assert detail == "this conversation is closed"
