"""Who sees which conversation: the access helpers, the pages, the inbox and its filters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from kefu.conversations import actions
from kefu.conversations.access import access_conversation, can_see, visible_conversations
from kefu.conversations.actions import NewAttachment
from kefu.conversations.models import Channel, Conversation, Kind, Priority
from kefu.conversations.models import Status as S
from kefu.customers import actions as customer_actions
from kefu.customers.models import Tier
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, UserFactory, make_agent, make_conversation


@dataclass
class World:
    cx: Conversation  # team X
    cy: Conversation  # team Y
    cg: Conversation  # general queue
    cya: Conversation  # team Y, assigned to agent X
    portal_user: Any
    portal_conv: Conversation  # team Y, of the portal user's customer


@pytest.fixture
def world(team_x, team_y, agent_x, customer_user_factory):
    portal_user, portal_customer = customer_user_factory("portal")
    cya = make_conversation(team=team_y, subject="Assigned across teams")
    Conversation.objects.filter(pk=cya.pk).update(assignee=agent_x)
    return World(
        cx=make_conversation(team=team_x, subject="Team X kettle"),
        cy=make_conversation(team=team_y, subject="Team Y invoice"),
        cg=make_conversation(subject="General question"),
        cya=cya,
        portal_user=portal_user,
        portal_conv=make_conversation(portal_customer, team=team_y, subject="Mine"),
    )


def visible_ids(user: Any) -> set[int]:
    return set(visible_conversations(user).values_list("pk", flat=True))


def all_ids(w: World) -> set[int]:
    return {w.cx.pk, w.cy.pk, w.cg.pk, w.cya.pk, w.portal_conv.pk}


def assert_scope(user: Any, w: World, expected: set[int]) -> None:
    assert visible_ids(user) == expected
    for conversation in (w.cx, w.cy, w.cg, w.cya, w.portal_conv):
        conversation = Conversation.objects.get(pk=conversation.pk)
        assert can_see(user, conversation) is (conversation.pk in expected)
        if conversation.pk in expected:
            assert access_conversation(user, conversation.pk).pk == conversation.pk
        else:
            with pytest.raises(Http404):
                access_conversation(user, conversation.pk)


# --- the access helpers ------------------------------------------------------------------


def test_agent_sees_own_teams_general_queue_and_own_assignments(world, agent_x):
    assert_scope(agent_x, world, {world.cx.pk, world.cg.pk, world.cya.pk})


def test_agent_of_other_team(world, agent_y):
    assert_scope(agent_y, world, {world.cy.pk, world.cg.pk, world.cya.pk, world.portal_conv.pk})


def test_agent_without_team_sees_general_queue_only(world):
    loner = make_agent("loner")
    assert_scope(loner, world, {world.cg.pk})


@pytest.mark.parametrize("role", [AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN])
def test_supervisors_and_admins_see_everything(world, role):
    boss = make_agent(f"boss-{role}", role=role)
    assert_scope(boss, world, all_ids(world))


def test_superuser_without_profile_sees_everything(world):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert_scope(root, world, all_ids(world))


def test_customer_principal_sees_only_own(world):
    assert_scope(world.portal_user, world, {world.portal_conv.pk})


def test_anonymous_and_plain_users_see_nothing(world):
    assert_scope(AnonymousUser(), world, set())
    assert_scope(UserFactory(username="plain"), world, set())


def test_deactivated_agent_sees_nothing(world, agent_x):
    agent_x.is_active = False
    agent_x.save()
    assert_scope(agent_x, world, set())


def test_access_unknown_conversation_is_404(world, agent_x):
    with pytest.raises(Http404):
        access_conversation(agent_x, 999_999)


# --- through the pages -------------------------------------------------------------------


def snapshot(conversation: Conversation) -> tuple:
    c = Conversation.objects.get(pk=conversation.pk)
    return (
        c.status,
        c.priority,
        c.kind,
        c.assignee_id,
        c.team_id,
        c.merged_into_id,
        sorted(c.tags.values_list("name", flat=True)),
        sorted(c.messages.values_list("pk", "body_text")),
        c.timeline.count(),
    )


def test_agent_of_another_team_gets_404_everywhere(world, agent_y, client_for, media_root):
    cx = world.cx
    attachment_message = actions.receive_message(
        cx, body_text="see file", attachments=[NewAttachment("a.txt", b"secret")]
    )
    attachment = attachment_message.attachments.get()
    before = snapshot(cx)
    client = client_for(agent_y)
    base = f"/c/{cx.pk}"
    gets = [
        f"{base}/",
        f"{base}/props/",
        f"{base}/m/{attachment_message.pk}/",
        f"{base}/attachments/{attachment.pk}/",
    ]
    posts = [
        (f"{base}/reply/", {"body": "hijack", "status": "solved"}),
        (f"{base}/note/", {"body": "hijack"}),
        (f"{base}/assign/", {"assignee": "me", "team": str(world.cy.team_id)}),
        (f"{base}/status/", {"status": "closed"}),
        (f"{base}/priority/", {"priority": "urgent"}),
        (f"{base}/kind/", {"kind": "complaint"}),
        (f"{base}/tags/", {"add": "pwned"}),
        (f"{base}/merge/", {"target": str(world.cy.pk)}),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    # merging a visible conversation into an invisible one is refused the same way
    assert client.post(f"/c/{world.cy.pk}/merge/", {"target": str(cx.pk)}).status_code == 404
    assert snapshot(cx) == before
    assert Conversation.objects.get(pk=world.cy.pk).merged_into_id is None


def test_agent_of_the_team_can_use_the_pages(world, agent_x, client_for):
    client = client_for(agent_x)
    response = client.get(f"/c/{world.cx.pk}/")
    assert response.status_code == 200
    assert "Team X kettle" in response.content.decode()
    response = client.post(f"/c/{world.cx.pk}/reply/", {"body": "On it"})
    assert response.status_code == 302
    assert world.cx.messages.filter(body_text="On it").exists()
    response = client.post(f"/c/{world.cx.pk}/reply/", {"body": "On it"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'class="msg msg-out"' in response.content.decode()


def test_customer_principal_gets_403_in_the_workspace(world, client_for):
    client = client_for(world.portal_user)
    assert client.get("/inbox/").status_code == 403
    assert client.get(f"/c/{world.portal_conv.pk}/").status_code == 403
    assert client.post(f"/c/{world.portal_conv.pk}/reply/", {"body": "x"}).status_code == 403
    assert client.get("/customers/").status_code == 403


def test_anonymous_is_sent_to_login(world, client):
    for url in ("/inbox/", f"/c/{world.cx.pk}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    response = client.post(f"/c/{world.cx.pk}/reply/", {"body": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert world.cx.messages.count() == 1


# --- the inbox ---------------------------------------------------------------------------

ROW = re.compile(r'id="row-(\d+)"')


def rows(client, **params) -> set[int]:
    response = client.get("/inbox/", params)
    assert response.status_code == 200
    return {int(pk) for pk in ROW.findall(response.content.decode())}


@pytest.fixture
def inbox(team_x, team_y, agent_x, agent_x2):
    """A spread of conversations around agent X; returns a name → conversation map."""
    vip = CustomerFactory(name="Li Lei", tier=Tier.VIP, email="lilei@corp.example")
    plain = CustomerFactory(name="Han Meimei", email="han@mail.example")
    c: dict[str, Conversation] = {}
    c["mine"] = make_conversation(vip, team=team_x, subject="Kettle leaks", channel=Channel.EMAIL)
    actions.assign(c["mine"], actor=agent_x, assignee=agent_x, team=team_x)
    actions.set_status(c["mine"], actor=agent_x, status=S.OPEN)
    c["colleague"] = make_conversation(plain, team=team_x, subject="Toaster smoke")
    actions.assign(c["colleague"], actor=agent_x, assignee=agent_x2, team=team_x)
    c["unassigned"] = make_conversation(
        plain, team=team_x, subject="Invoice copy", channel=Channel.PHONE
    )
    actions.set_priority(c["unassigned"], actor=agent_x, priority=Priority.URGENT)
    c["general"] = make_conversation(plain, subject="Opening hours", channel=Channel.CHAT)
    actions.set_kind(c["general"], actor=agent_x, kind=Kind.COMPLAINT)
    actions.tag(c["general"], actor=agent_x, add=["hours"])
    c["pending"] = make_conversation(vip, team=team_x, subject="Need photo")
    actions.send_reply(c["pending"], agent=agent_x, body_text="Photo?", status=S.PENDING)
    c["solved"] = make_conversation(vip, team=team_x, subject="Fixed kettle")
    actions.send_reply(c["solved"], agent=agent_x, body_text="Done", status=S.SOLVED)
    c["closed"] = make_conversation(plain, team=team_x, subject="Old case")
    actions.set_status(c["closed"], actor=agent_x, status=S.CLOSED)
    c["hidden"] = make_conversation(vip, team=team_y, subject="Kettle secret team y")
    return c


def ids(c: dict[str, Conversation], *names: str) -> set[int]:
    return {c[n].pk for n in names}


def test_inbox_views(inbox, agent_x, client_for):
    c, client = inbox, client_for(agent_x)
    # "pending" and "solved" were answered by agent X, who then owns them
    assert rows(client, view="mine") == ids(c, "mine", "pending")
    assert rows(client, view="unassigned") == ids(c, "unassigned", "general")
    assert rows(client, view="team") == ids(c, "mine", "colleague", "unassigned", "pending")
    assert rows(client, view="open") == ids(
        c, "mine", "colleague", "unassigned", "general", "pending"
    )
    assert rows(client) == rows(client, view="open")
    assert rows(client, view="bogus") == rows(client, view="open")
    assert rows(client, view="pending") == ids(c, "pending")
    assert rows(client, view="solved") == ids(c, "solved", "closed")
    assert rows(client, view="all") == set(ids(c, *c)) - ids(c, "hidden")


def test_inbox_view_counts(inbox, agent_x, client_for):
    counts = client_for(agent_x).get("/inbox/").context["counts"]
    # Solved history is not counted (it would scan every conversation ever).
    assert counts == {"mine": 2, "unassigned": 2, "team": 4, "open": 5, "pending": 1}


def test_inbox_htmx_returns_the_list_only(inbox, agent_x, client_for):
    response = client_for(agent_x).get("/inbox/", {"view": "mine"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert {int(pk) for pk in ROW.findall(html)} == ids(inbox, "mine", "pending")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "pending"}, {"pending"}),
        ({"status": "closed"}, {"closed"}),
        ({"priority": "urgent"}, {"unassigned"}),
        ({"kind": "complaint"}, {"general"}),
        ({"tier": "vip"}, {"mine", "pending", "solved"}),
        ({"tag": "hours"}, {"general"}),
        ({"channel": "phone"}, {"unassigned"}),
        ({"channel": "email"}, {"mine"}),
        ({"q": "kettle"}, {"mine", "solved"}),  # the team Y kettle stays hidden
        ({"q": "meimei"}, {"colleague", "unassigned", "general", "closed"}),
        ({"q": "lilei@corp"}, {"mine", "pending", "solved"}),
        ({"tier": "vip", "q": "photo"}, {"pending"}),
        ({"priority": "nonsense"}, set()),
    ],
)
def test_inbox_filters(inbox, agent_x, client_for, params, expected):
    assert rows(client_for(agent_x), view="all", **params) == ids(inbox, *expected)


def test_inbox_search_by_reference(inbox, agent_x, client_for):
    client = client_for(agent_x)
    target = inbox["colleague"]
    assert rows(client, view="all", q=f"#{target.pk}") == {target.pk}
    hidden = inbox["hidden"]
    assert rows(client, view="all", q=f"#{hidden.pk}") == set()


def test_inbox_tag_and_contact_filters_do_not_duplicate_rows(inbox, agent_x, client_for):
    customer = inbox["mine"].customer
    customer_actions.add_contact_point(
        customer, kind="email", value="li2@corp.example", actor=agent_x
    )
    actions.tag(inbox["mine"], actor=agent_x, add=["a", "b"])
    response = client_for(agent_x).get("/inbox/", {"view": "all", "q": "corp.example"})
    found = ROW.findall(response.content.decode())
    assert len(found) == len(set(found)) == 3


# --- query counts ------------------------------------------------------------------------


def populate(n: int, team, agents: list[Any], start: int = 0) -> None:
    """``n`` conversations with different customers, assignees, tags and messages."""
    for i in range(start, start + n):
        customer = CustomerFactory(name=f"Customer {i}", tier=[Tier.NORMAL, Tier.VIP][i % 2])
        conversation = make_conversation(
            customer, team=team if i % 3 else None, subject=f"Subject {i}"
        )
        agent = agents[i % len(agents)]
        actions.send_reply(conversation, agent=agent, body_text=f"Reply {i}")
        actions.tag(conversation, actor=agent, add=[f"tag{i}", "common"])


def count_queries(client, url: str) -> int:
    client.get(url)  # warm caches (session, content types, …)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


INBOX_MAX_QUERIES = 12  # measured: 10
DETAIL_MAX_QUERIES = 24  # measured: 20


def test_inbox_query_count_does_not_grow(
    team_x, agent_x, agent_x2, client_for, django_assert_max_num_queries
):
    client = client_for(agent_x)
    populate(3, team_x, [agent_x, agent_x2])
    few = count_queries(client, "/inbox/?view=all")
    populate(12, team_x, [agent_x, agent_x2], start=3)
    many = count_queries(client, "/inbox/?view=all")
    with django_assert_max_num_queries(INBOX_MAX_QUERIES):
        response = client.get("/inbox/?view=all")
    assert len(ROW.findall(response.content.decode())) == 15
    assert many == few
    # filtered and searched lists too
    assert count_queries(client, "/inbox/?view=all&tag=common&q=Subject") <= INBOX_MAX_QUERIES


def grow_thread(conversation: Conversation, agent: Any, n: int) -> None:
    customer = conversation.customer
    for i in range(n):
        actions.receive_message(
            conversation,
            body_text=f"Customer says {i}",
            attachments=[NewAttachment(f"f{i}.txt", b"x")],
        )
        actions.send_reply(conversation, agent=agent, body_text=f"Agent says {i}")
        actions.add_note(conversation, agent=agent, body_text=f"Note {i}")
        actions.set_priority(
            conversation, actor=agent, priority=[Priority.HIGH, Priority.NORMAL][i % 2]
        )
        customer_actions.set_preference(customer, actor=agent, value=f"likes {i}")
        customer_actions.add_note(customer, actor=agent, body=f"Customer note {i}")


@pytest.fixture
def detail_setup(team_x, agent_x, agent_x2, client_for, media_root):
    customer = CustomerFactory(name="Wang Fang", owner=agent_x2)
    conversation = make_conversation(customer, team=team_x, subject="Long thread")
    for i in range(3):
        make_conversation(customer, team=team_x, subject=f"Older {i}")
    return conversation, client_for(agent_x)


def test_conversation_page_query_count_does_not_grow(
    detail_setup, agent_x, agent_x2, django_assert_max_num_queries
):
    conversation, client = detail_setup
    url = f"/c/{conversation.pk}/"
    grow_thread(conversation, agent_x, 3)
    few = count_queries(client, url)
    grow_thread(conversation, agent_x2, 12)
    many = count_queries(client, url)
    with django_assert_max_num_queries(DETAIL_MAX_QUERIES):
        response = client.get(url)
    assert response.content.decode().count('class="msg msg-') == 1 + 15 * 3
    assert many == few


def test_conversation_page_query_count_with_nameless_customer(team_x, agent_x, client_for):
    """Mail and chat create customers without a name: they are shown by a contact point,
    which must not cost a query per message or timeline line."""
    customer = customer_actions.resolve_customer(email="nobody@example.com")
    assert customer.name == ""
    conversation = make_conversation(customer, team=team_x, subject="Anonymous mail")
    client = client_for(agent_x)
    url = f"/c/{conversation.pk}/"
    for i in range(3):
        actions.receive_message(conversation, body_text=f"again {i}")
    few = count_queries(client, url)
    for i in range(12):
        actions.receive_message(conversation, body_text=f"more {i}")
    many = count_queries(client, url)
    assert many == few


def test_portal_reply_to_a_closed_conversation_opens_a_follow_up(world, client_for):
    conv = world.portal_conv
    Conversation.objects.filter(pk=conv.pk).update(status="closed")
    before = Conversation.objects.count()
    client = client_for(world.portal_user)
    response = client.post(f"/portal/c/{conv.pk}/reply/", {"body": "It broke again"})
    assert response.status_code == 302
    follow_up = Conversation.objects.exclude(pk=conv.pk).get(
        customer=conv.customer, messages__body_text="It broke again"
    )
    assert Conversation.objects.count() == before + 1
    assert response["Location"] == f"/portal/c/{follow_up.pk}/"
    assert follow_up.messages.get().metadata["follow_up_of"] == conv.pk
    assert follow_up.team_id == conv.team_id and follow_up.channel == "web"
    assert not conv.messages.filter(body_text="It broke again").exists()
