"""Query counts pinned on the API's hot paths, so an N+1 cannot creep in."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from kefu.conversations import actions
from tests.factories import CustomerFactory, make_agent, make_conversation

# token (with user and agent profile) + team ids + count + page + tags + contact points
LIST_QUERIES = 6


def many_conversations(team, n: int) -> None:
    for i in range(n):
        agent = make_agent(f"helper{team.pk}-{i}", team)
        conversation = make_conversation(CustomerFactory(name=""), team=team)
        actions.tag(conversation, actor=agent, add=[f"tag{i}", "common"])
        actions.send_reply(conversation, agent=agent, body_text="on it")


def count_queries(api, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path).status_code == 200
    return len(queries)


def test_conversation_list_query_count(api_x, team_x, django_assert_max_num_queries):
    many_conversations(team_x, 8)
    api_x.get("/api/conversations")  # stamps the token's last use (once a minute)
    with django_assert_max_num_queries(LIST_QUERIES):
        response = api_x.get("/api/conversations")
    items = response.json()["items"]
    assert len(items) == 8
    assert all(item["assignee"] and item["customer"]["display_name"] for item in items)


def test_conversation_list_queries_do_not_grow_with_rows(api_x, team_x):
    many_conversations(team_x, 2)
    api_x.get("/api/conversations")
    few = count_queries(api_x, "/api/conversations")
    many_conversations(team_x, 6)
    assert count_queries(api_x, "/api/conversations") == few


def test_conversation_detail_query_count(api_x, agent_x, team_x):
    conversation = make_conversation(CustomerFactory(name=""), team=team_x)
    actions.send_reply(conversation, agent=agent_x, body_text="one")
    url = f"/api/conversations/{conversation.pk}"
    api_x.get(url)  # the token's last use is stamped once a minute; keep it out of the count
    few = count_queries(api_x, url)
    for n in range(6):
        actions.receive_message(conversation, body_text=f"more {n}")
        actions.add_note(conversation, agent=agent_x, body_text="noted")
    assert count_queries(api_x, url) == few


def test_customer_list_query_count(api_x, django_assert_max_num_queries):
    for _ in range(9):
        CustomerFactory()
    api_x.get("/api/customers")
    # token + count + page + contact points + tags
    with django_assert_max_num_queries(5):
        response = api_x.get("/api/customers")
    assert response.json()["count"] == 9
