"""Related conversations: a symmetric link, shown on both pages, removable."""

from __future__ import annotations

import pytest

from kefu.conversations.links import (
    MAX_LINKS,
    link_conversations,
    linked_conversations,
    unlink_conversations,
)
from kefu.conversations.models import ConversationLink
from kefu.core.errors import ActionError
from kefu.core.events import ConversationsLinked
from kefu.customers.models import TimelineEntry
from tests.factories import UserFactory, make_conversation


@pytest.fixture
def pair(customer, team_x):
    return make_conversation(customer, team=team_x), make_conversation(customer, team=team_x)


def test_link_is_symmetric_and_on_both_timelines(
    pair, agent_x, events, django_capture_on_commit_callbacks
):
    a, b = pair
    with django_capture_on_commit_callbacks(execute=True):
        link_conversations(b, a, actor=agent_x)  # higher id first: stored lower first
    link = ConversationLink.objects.get()
    assert (link.low_id, link.high_id) == (a.pk, b.pk)
    assert list(linked_conversations(a, agent_x)) == [b]
    assert list(linked_conversations(b, agent_x)) == [a]
    for c in pair:
        assert TimelineEntry.objects.filter(conversation=c, kind="conversation_linked").exists()
    assert sorted(e.conversation_id for e in events.of(ConversationsLinked)) == [a.pk, b.pk]


def test_link_twice_self_and_strangers_are_refused(pair, agent_x, team_y, customer):
    a, b = pair
    link_conversations(a, b, actor=agent_x)
    with pytest.raises(ActionError, match="already linked"):
        link_conversations(b, a, actor=agent_x)
    with pytest.raises(ActionError, match="itself"):
        link_conversations(a, a, actor=agent_x)
    with pytest.raises(ActionError, match="agent"):
        link_conversations(a, b, actor=UserFactory())
    hidden = make_conversation(customer, team=team_y)
    with pytest.raises(ActionError, match="no such conversation"):
        link_conversations(a, hidden, actor=agent_x)


def test_links_hidden_from_agents_who_cannot_see_the_other(
    pair, agent_x, agent_y, supervisor, customer, team_y
):
    a, _ = pair
    other_team = make_conversation(customer, team=team_y)
    link_conversations(a, other_team, actor=supervisor)
    assert other_team not in linked_conversations(a, agent_x)
    assert other_team in linked_conversations(a, supervisor)


def test_unlink(pair, agent_x):
    a, b = pair
    link_conversations(a, b, actor=agent_x)
    unlink_conversations(b, a, actor=agent_x)
    assert not ConversationLink.objects.exists()
    with pytest.raises(ActionError, match="not linked"):
        unlink_conversations(a, b, actor=agent_x)
    assert TimelineEntry.objects.filter(conversation=a, kind="conversation_unlinked").exists()


def test_link_limit(customer, agent_x, team_x, settings):
    a = make_conversation(customer, team=team_x)
    others = [make_conversation(customer, team=team_x) for _ in range(MAX_LINKS)]
    ConversationLink.objects.bulk_create(ConversationLink(low=a, high=o) for o in others)
    with pytest.raises(ActionError, match="at most"):
        link_conversations(a, make_conversation(customer, team=team_x), actor=agent_x)


def test_link_routes_and_page(pair, agent_x, agent_y, client_for):
    a, b = pair
    client = client_for(agent_x)
    response = client.post(f"/c/{a.pk}/links/", {"target": f"#{b.pk}"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and f'href="/c/{b.pk}/"' in response.content.decode()
    page = client.get(f"/c/{b.pk}/").content.decode()
    assert f'href="/c/{a.pk}/"' in page and "links-box" in page
    for target in ("", "abc", "#", "99999999"):
        bad = client.post(f"/c/{a.pk}/links/", {"target": target})
        assert bad.status_code in (400, 404)
    assert client_for(agent_y).post(f"/c/{a.pk}/links/", {"target": b.pk}).status_code == 404
    assert client.post(f"/c/{a.pk}/links/{b.pk}/delete/").status_code == 302
    assert not ConversationLink.objects.exists()
