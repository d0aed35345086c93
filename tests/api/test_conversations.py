from __future__ import annotations

import pytest

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Message, Status
from kefu.customers.models import Customer
from tests.factories import UserFactory, make_agent, make_conversation


def subjects(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["subject"] for item in response.json()["items"]]


@pytest.fixture
def three(team_x, agent_x, customer):
    """Three conversations of team X: one urgent and tagged, one assigned, one solved."""
    first = make_conversation(customer, team=team_x, subject="first", priority="urgent")
    actions.tag(first, actor=agent_x, add=["refund"])
    second = make_conversation(team=team_x, subject="second", channel="email", kind="complaint")
    actions.assign(second, actor=agent_x, assignee=agent_x, team=team_x)
    third = make_conversation(team=team_x, subject="third")
    actions.set_status(third, actor=agent_x, status=Status.SOLVED)
    return first, second, third


def test_list_filters(api_x, three, team_x, customer, agent_x):
    assert sorted(subjects(api_x.get("/api/conversations"))) == ["first", "second", "third"]
    assert subjects(api_x.get("/api/conversations", {"status": "solved"})) == ["third"]
    assert subjects(api_x.get("/api/conversations", {"priority": "urgent"})) == ["first"]
    assert subjects(api_x.get("/api/conversations", {"kind": "complaint"})) == ["second"]
    assert subjects(api_x.get("/api/conversations", {"channel": "email"})) == ["second"]
    assert subjects(api_x.get("/api/conversations", {"assignee": "me"})) == ["second"]
    assert subjects(api_x.get("/api/conversations", {"assignee": str(agent_x.pk)})) == ["second"]
    assert sorted(subjects(api_x.get("/api/conversations", {"assignee": "none"}))) == [
        "first",
        "third",
    ]
    assert subjects(api_x.get("/api/conversations", {"customer": customer.pk})) == ["first"]
    assert subjects(api_x.get("/api/conversations", {"tag": "Refund"})) == ["first"]
    assert len(subjects(api_x.get("/api/conversations", {"team": team_x.pk}))) == 3
    assert subjects(api_x.get("/api/conversations", {"team": team_x.pk + 100})) == []


def test_list_pages_with_a_total(api_x, team_x):
    for n in range(5):
        make_conversation(team=team_x, subject=f"c{n}")
    body = api_x.get("/api/conversations", {"limit": 2, "offset": 2}).json()
    assert body["count"] == 5 and body["limit"] == 2 and body["offset"] == 2
    assert len(body["items"]) == 2
    everything = api_x.get("/api/conversations", {"limit": 200}).json()["items"]
    assert [c["subject"] for c in everything[2:4]] == [c["subject"] for c in body["items"]]
    assert api_x.get("/api/conversations", {"offset": 10}).json()["items"] == []


def test_list_item_shape(api_x, three, customer, agent_x, team_x):
    first, _, _ = three
    items = {c["subject"]: c for c in api_x.get("/api/conversations").json()["items"]}
    item = items["first"]
    assert item["id"] == first.pk and item["reference"] == f"#{first.pk}"
    assert item["status"] == "new" and item["priority"] == "urgent" and item["kind"] == "question"
    assert item["channel"] == "web"
    assert item["customer"] == {
        "id": customer.pk,
        "name": "张伟",
        "display_name": "张伟",
        "tier": "normal",
        "is_vip": False,
    }
    assert item["team"] == {"id": team_x.pk, "name": "Team X"}
    assert item["assignee"] is None
    assert item["tags"] == ["refund"]
    assert items["second"]["assignee"] == {
        "id": agent_x.pk,
        "username": "agent.x",
        "name": "agent.x",
    }


def test_open_for_an_existing_customer(api_x, agent_x, team_x, customer):
    response = api_x.post(
        "/api/conversations",
        {
            "customer_id": customer.pk,
            "subject": "Broken kettle",
            "body": "It leaks.",
            "team_id": team_x.pk,
            "priority": "high",
            "kind": "after_sales",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    conversation = Conversation.objects.get(pk=body["id"])
    assert conversation.customer == customer and conversation.team == team_x
    assert conversation.channel == "api"
    assert body["priority"] == "high" and body["kind"] == "after_sales"
    assert [(m["direction"], m["body_text"]) for m in body["messages"]] == [("in", "It leaks.")]
    assert body["messages"][0]["author"] == {"type": "customer", "id": customer.pk, "name": "张伟"}


def test_open_for_an_email_finds_or_creates_the_customer(api_x, customer):
    known = customer.contact_points.get().value
    response = api_x.post(
        "/api/conversations",
        {
            "customer": {"email": known.upper()},
            "subject": "Again",
            "body": "Hi",
            "channel": "email",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["customer"]["id"] == customer.pk
    assert response.json()["channel"] == "email"

    response = api_x.post(
        "/api/conversations",
        {
            "customer": {"email": "new@example.com", "name": "New Person"},
            "subject": "Hello",
        },
    )
    assert response.status_code == 201
    assert response.json()["customer"]["name"] == "New Person"
    assert response.json()["messages"] == []
    assert Customer.objects.filter(contact_points__value="new@example.com").exists()


def test_open_refuses_unknown_references_without_creating_anything(api_x, customer):
    response = api_x.post("/api/conversations", {"customer_id": 99999, "body": "x"})
    assert response.status_code == 404
    assert response.json()["detail"] == "no customer with id 99999"
    response = api_x.post(
        "/api/conversations",
        {
            "customer": {"email": "someone@example.com"},
            "body": "x",
            "team_id": 424242,
        },
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "no team with id 424242"
    assert not Conversation.objects.exists()
    assert not Customer.objects.filter(contact_points__value="someone@example.com").exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"body": "who?"},
        {"customer_id": 1, "customer": {"email": "a@example.com"}, "body": "both"},
    ],
)
def test_open_needs_exactly_one_customer(api_x, payload):
    response = api_x.post("/api/conversations", payload)
    assert response.status_code == 422
    assert "customer_id or customer" in str(response.json()["detail"])


def test_detail_shows_messages_notes_and_tags(api_x, agent_x, team_x, customer):
    conversation = make_conversation(customer, team=team_x)
    actions.add_note(conversation, agent=agent_x, body_text="VIP, be quick")
    actions.send_reply(conversation, agent=agent_x, body_text="On its way!")
    actions.tag(conversation, actor=agent_x, add=["shipping"])
    response = api_x.get(f"/api/conversations/{conversation.pk}")
    assert response.status_code == 200
    body = response.json()
    assert [(m["direction"], m["author"]["type"]) for m in body["messages"]] == [
        ("in", "customer"),
        ("note", "agent"),
        ("out", "agent"),
    ]
    assert body["messages"][1]["body_text"] == "VIP, be quick"
    assert body["messages"][2]["body_html"] == "<p>On its way!</p>"
    assert body["tags"] == ["shipping"]
    assert body["customer"]["name"] == "张伟"
    assert body["assignee"]["username"] == "agent.x"


def test_reply_with_status(api_x, agent_x, team_x):
    conversation = make_conversation(team=team_x)
    response = api_x.post(
        f"/api/conversations/{conversation.pk}/reply", {"body": "Try again?", "status": "pending"}
    )
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["direction"] == "out" and message["body_text"] == "Try again?"
    assert message["author"] == {"type": "agent", "id": agent_x.pk, "name": "agent.x"}
    conversation.refresh_from_db()
    assert conversation.status == "pending"
    assert conversation.assignee == agent_x  # whoever answers first owns it


def test_note(api_x, team_x):
    conversation = make_conversation(team=team_x)
    response = api_x.post(f"/api/conversations/{conversation.pk}/note", {"body": "internal"})
    assert response.status_code == 201
    assert response.json()["direction"] == "note"
    assert conversation.messages.filter(direction="note", body_text="internal").exists()


def test_inbound_message_reopens_a_solved_conversation(api_x, agent_x, team_x):
    conversation = make_conversation(team=team_x, channel="email")
    actions.set_status(conversation, actor=agent_x, status="solved")
    response = api_x.post(
        f"/api/conversations/{conversation.pk}/messages",
        {
            "body": "Still broken.",
            "external_id": "<abc@mail>",
            "metadata": {"from": "x@y.cn"},
        },
    )
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["direction"] == "in" and message["channel"] == "email"
    assert message["external_id"] == "<abc@mail>" and message["metadata"] == {"from": "x@y.cn"}
    assert message["author"]["type"] == "customer"
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_inbound_message_to_a_closed_conversation_is_400(api_x, agent_x, team_x):
    conversation = make_conversation(team=team_x)
    actions.set_status(conversation, actor=agent_x, status="closed")
    response = api_x.post(f"/api/conversations/{conversation.pk}/messages", {"body": "hello?"})
    assert response.status_code == 400
    assert "closed" in response.json()["detail"]


def test_assign_and_unassign(api_x, agent_x, team_x):
    colleague = make_agent("colleague", team_x)
    conversation = make_conversation(team=team_x)
    url = f"/api/conversations/{conversation.pk}/assign"

    response = api_x.post(url, {"assignee_id": colleague.pk})  # team left out: kept
    assert response.status_code == 200, response.content
    assert response.json()["assignee"]["id"] == colleague.pk
    assert response.json()["team"]["id"] == team_x.pk

    response = api_x.post(url, {"assignee_id": None})
    assert response.json()["assignee"] is None and response.json()["team"]["id"] == team_x.pk

    response = api_x.post(url, {"team_id": None})
    assert response.json()["team"] is None


def test_assign_refuses_non_agents_non_members_and_unknown_ids(api_x, agent_y, team_x):
    conversation = make_conversation(team=team_x)
    url = f"/api/conversations/{conversation.pk}/assign"
    response = api_x.post(url, {"assignee_id": agent_y.pk})
    assert response.status_code == 400 and "not a member" in response.json()["detail"]
    plain = UserFactory(username="plain")
    response = api_x.post(url, {"assignee_id": plain.pk})
    assert response.status_code == 400 and "not an active agent" in response.json()["detail"]
    assert api_x.post(url, {"assignee_id": 987654}).status_code == 404
    assert api_x.post(url, {"team_id": 987654}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.assignee is None and conversation.team == team_x


def test_status_and_priority(api_x, team_x):
    conversation = make_conversation(team=team_x)
    response = api_x.post(f"/api/conversations/{conversation.pk}/status", {"status": "on_hold"})
    assert response.status_code == 200 and response.json()["status"] == "on_hold"
    response = api_x.post(f"/api/conversations/{conversation.pk}/priority", {"priority": "low"})
    assert response.status_code == 200 and response.json()["priority"] == "low"
    response = api_x.post(f"/api/conversations/{conversation.pk}/status", {"status": "new"})
    assert response.status_code == 400
    assert response.json()["detail"] == "a conversation cannot go back to new"


def test_tags(api_x, agent_x, team_x):
    conversation = make_conversation(team=team_x)
    url = f"/api/conversations/{conversation.pk}/tags"
    response = api_x.post(url, {"add": ["Refund", "  late   delivery "]})
    assert response.status_code == 200
    assert response.json()["tags"] == ["late delivery", "refund"]
    response = api_x.post(url, {"add": ["vip"], "remove": ["refund", "never-there"]})
    assert response.json()["tags"] == ["late delivery", "vip"]
    response = api_x.post(url, {"add": ["x" * 65]})
    assert response.status_code == 422
    response = api_x.post(url, {"add": ["   "]})
    assert response.status_code == 400


def test_end_to_end_through_the_api(api_x, team_x):
    """A channel integration opens a conversation, the customer writes again, an agent
    replies and solves it — every step through the API."""
    opened = api_x.post(
        "/api/conversations",
        {
            "customer": {"phone": "138 0013 8000", "name": "李雷"},
            "subject": "Order 1234",
            "body": "Where is it?",
            "channel": "phone",
            "team_id": team_x.pk,
        },
    ).json()
    url = f"/api/conversations/{opened['id']}"
    assert api_x.post(f"{url}/messages", {"body": "Any news?"}).status_code == 201
    assert (
        api_x.post(f"{url}/reply", {"body": "Shipped today.", "status": "solved"}).status_code
        == 201
    )
    detail = api_x.get(url).json()
    assert detail["status"] == "solved"
    assert [m["direction"] for m in detail["messages"]] == ["in", "in", "out"]
    assert Message.objects.filter(conversation_id=opened["id"]).count() == 3
    assert detail["customer"]["name"] == "李雷"
