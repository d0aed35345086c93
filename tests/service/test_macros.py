"""Macros: placeholders (whitelisted, fallbacks, no template injection), who may use and
manage which, actions applied through the conversation actions, the workspace routes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Kind, Status
from kefu.core.errors import ActionError
from kefu.customers.actions import set_preference
from kefu.customers.models import TimelineEntry
from kefu.service.macros import (
    MacroContext,
    can_manage,
    delete_macro,
    render,
    save_macro,
    usable_macros,
    use_macro,
)
from kefu.service.models import CannedReply
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, UserFactory, make_agent, make_conversation


@pytest.fixture
def conv(team_x):
    customer = CustomerFactory(name="王芳", tier="vip")
    return make_conversation(customer, team=team_x, subject="扫地机器人漏水")


@pytest.fixture
def shared(db):
    return CannedReply.objects.create(
        shortcut="hello",
        title="Greeting",
        body="您好 {{customer.name}}，关于 {{ conversation.reference }}：{{agent.name}}",
    )


@pytest.fixture
def client_for(db):
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def ctx(conversation, agent):
    return MacroContext(conversation, agent)


# Rendering -------------------------------------------------------------------------------


def test_placeholders_fill_from_customer_conversation_and_agent(conv, agent_x):
    AgentProfile.objects.filter(user=agent_x).update(display_name="李娜")
    agent_x.agent_profile.refresh_from_db()
    set_preference(conv.customer, actor=agent_x, value="喜欢喝茶", kind="personal")
    set_preference(conv.customer, actor=agent_x, value="18:00 后来电", kind="contact")
    text = render(
        "{{customer.name}}/{{customer.tier}}/{{conversation.reference}}/{{agent.name}}/"
        "{{customer.preferences.personal}}/{{customer.preferences}}",
        ctx(conv, agent_x),
    )
    assert text == f"王芳/VIP/#{conv.pk}/李娜/喜欢喝茶/18:00 后来电; 喜欢喝茶"


@translation.override("en")
def test_missing_values_use_the_given_or_a_sensible_fallback(team_x, agent_x):
    nameless = make_conversation(CustomerFactory(name=""), team=team_x, subject="")
    assert render("Dear {{customer.name|friend}},", ctx(nameless, agent_x)) == "Dear friend,"
    assert render("Dear {{customer.name}},", ctx(nameless, agent_x)) == "Dear customer,"
    assert render("[{{conversation.subject}}]", ctx(nameless, agent_x)) == "[]"
    assert render("[{{customer.preferences|—}}]", ctx(nameless, agent_x)) == "[—]"
    # No conversation at all (e.g. the picker outside a conversation page).
    assert render("Hi {{customer.name}} #{{conversation.reference}}", ctx(None, agent_x)) == (
        "Hi customer #"
    )
    assert render("{{agent.name}}", ctx(None, None)) == "your service team"


def test_no_template_injection(team_x, agent_x):
    """Values are inserted once, as text: a customer's name is never evaluated, and Django
    template syntax in a macro does nothing."""
    evil = make_conversation(
        CustomerFactory(name="{{agent.signature}}{% debug %}"),
        team=team_x,
        subject="{{ settings }}",
    )
    agent_x.agent_profile.signature = "SECRET"
    agent_x.agent_profile.save()
    out = render("{{customer.name}} {{conversation.subject}}", ctx(evil, agent_x))
    assert out == "{{agent.signature}}{% debug %} {{ settings }}"
    assert "SECRET" not in out
    for text in ("{{ settings.SECRET_KEY }}", "{{customer.__class__}}", "{{ request.user }}"):
        assert render(text, ctx(evil, agent_x)) == text  # unknown names stay as typed


def test_control_characters_and_long_values_are_cleaned(team_x, agent_x):
    c = make_conversation(CustomerFactory(name="A\x1b[31mB\x07"), team=team_x)
    assert render("{{customer.name}}", ctx(c, agent_x)) == "A[31mB"
    agent_x.agent_profile.signature = "x" * 900
    assert len(render("{{agent.signature}}", ctx(c, agent_x))) == 500


# Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"body": "Hi {{customer.password}}"}, "body"),
        ({"body": "{% load static %}"}, "body"),
        ({"add_tags": "ok, " + "x" * 70}, "add_tags"),
        ({"shortcut": "no spaces"}, "shortcut"),
        ({"shortcut": "a/b"}, "shortcut"),
        ({"set_status": "new"}, "set_status"),
        ({"set_status": "closed"}, "set_status"),
        ({"set_priority": "asap"}, "set_priority"),
    ],
)
def test_validation(agent_x, fields, error_field):
    macro = CannedReply(**{"owner": agent_x, "shortcut": "ok", "title": "t", "body": "b", **fields})
    with pytest.raises(ValidationError) as info:
        save_macro(macro, actor=agent_x)
    assert error_field in info.value.message_dict


def test_tags_are_normalized_on_save(agent_x):
    macro = save_macro(
        CannedReply(owner=agent_x, shortcut="r", title="t", body="b", add_tags="Refund， VIP "),
        actor=agent_x,
    )
    assert macro.add_tags == "refund, vip"


def test_shortcuts_unique_per_owner_and_among_shared(agent_x, agent_y, shared):
    save_macro(CannedReply(owner=agent_x, shortcut="hello", title="t", body="b"), actor=agent_x)
    save_macro(CannedReply(owner=agent_y, shortcut="hello", title="t", body="b"), actor=agent_y)
    with pytest.raises(ValidationError):
        save_macro(CannedReply(owner=agent_x, shortcut="hello", title="t", body="b"), actor=agent_x)
    sup = make_agent("sup2", role=AgentProfile.Role.SUPERVISOR)
    with pytest.raises(ValidationError):
        save_macro(CannedReply(owner=None, shortcut="hello", title="t", body="b"), actor=sup)


# Permissions -----------------------------------------------------------------------------


def test_agents_manage_their_own_supervisors_the_shared(agent_x, agent_y, shared, team_x):
    mine = save_macro(CannedReply(owner=agent_x, shortcut="m", title="t", body="b"), actor=agent_x)
    assert can_manage(agent_x, mine) and not can_manage(agent_y, mine)
    assert not can_manage(agent_x, shared)
    with pytest.raises(ActionError, match="supervisors"):
        save_macro(CannedReply(owner=None, shortcut="s", title="t", body="b"), actor=agent_x)
    mine.body = "changed"
    with pytest.raises(ActionError, match="no such macro"):
        save_macro(mine, actor=agent_y)
    with pytest.raises(ActionError, match="no such macro"):
        delete_macro(shared, actor=agent_x)
    sup = make_agent("sup", role=AgentProfile.Role.SUPERVISOR)
    assert can_manage(sup, shared) and not can_manage(sup, mine)
    delete_macro(shared, actor=sup)
    with pytest.raises(ActionError, match="agent"):
        save_macro(CannedReply(owner=None, shortcut="z", title="t", body="b"), actor=UserFactory())


def test_usable_macros(agent_x, agent_y, shared, team_x, team_y):
    mine = CannedReply.objects.create(owner=agent_x, shortcut="hi", title="Mine", body="b")
    CannedReply.objects.create(owner=agent_y, shortcut="hj", title="Theirs", body="b")
    team_only = CannedReply.objects.create(shortcut="hx", title="X team", body="b", team=team_x)
    CannedReply.objects.create(shortcut="hy", title="Y team", body="b", team=team_y)
    CannedReply.objects.create(shortcut="hz", title="off", body="b", active=False)
    assert list(usable_macros(agent_x, "/h")) == [mine, shared, team_only]  # own first
    assert [m.shortcut for m in usable_macros(agent_y, "h")] == ["hj", "hello", "hy"]
    assert list(usable_macros(UserFactory(), "")) == []


# Using a macro ---------------------------------------------------------------------------


def test_use_applies_actions_through_the_conversation_actions(conv, agent_x):
    macro = CannedReply.objects.create(
        owner=agent_x,
        shortcut="wait",
        title="Waiting",
        body="{{customer.name}}，我们等您的照片。",
        set_status=Status.PENDING,
        set_priority="high",
        add_tags="photos, waiting",
    )
    used = use_macro(macro, conversation=conv, actor=agent_x)
    assert used.body == "王芳，我们等您的照片。"
    assert used.applied == ["tags", "priority", "status"] and used.failed == []
    c = Conversation.objects.get(pk=conv.pk)
    assert (c.status, c.priority) == (Status.PENDING, "high")
    assert sorted(c.tags.values_list("name", flat=True)) == ["photos", "waiting"]
    kinds = set(TimelineEntry.objects.filter(conversation=c).values_list("kind", flat=True))
    assert {"status_changed", "priority_changed", "tags_changed"} <= kinds  # the actions ran


def test_use_reports_each_failed_action(conv, agent_x):
    actions.set_kind(conv, actor=agent_x, kind=Kind.COMPLAINT)
    macro = CannedReply.objects.create(
        shortcut="done", title="Done", body="ok", set_status=Status.SOLVED, add_tags="done"
    )
    used = use_macro(macro, conversation=conv, actor=agent_x)
    assert used.applied == ["tags"]
    assert used.failed == [("status", "acknowledge this complaint before solving it")]


def test_someone_elses_macro_cannot_be_used(conv, agent_x, agent_y):
    theirs = CannedReply.objects.create(owner=agent_y, shortcut="x", title="x", body="b")
    with pytest.raises(ActionError, match="no such macro"):
        use_macro(theirs, conversation=conv, actor=agent_x)


# Routes ----------------------------------------------------------------------------------


def test_picker_lists_and_use_renders(conv, agent_x, shared, client_for):
    client = client_for(agent_x)
    found = client.get("/canned/?q=hel").json()["replies"]
    assert [r["shortcut"] for r in found] == ["hello"] and found[0]["id"] == shared.pk
    response = client.post(f"/canned/{shared.pk}/use/", {"conversation": conv.pk})
    assert response.status_code == 200
    assert response.json()["body"].startswith("您好 王芳，关于 #")


def test_use_route_hostile_input(conv, agent_x, agent_y, shared, client_for):
    client = client_for(agent_x)
    assert client.post(f"/canned/{shared.pk}/use/", {"conversation": "1 or 1"}).status_code == 400
    assert client.post("/canned/999999/use/", {"conversation": conv.pk}).status_code == 404
    # agent_y may not see the conversation: 404, nothing rendered from it.
    assert (
        client_for(agent_y).post(f"/canned/{shared.pk}/use/", {"conversation": conv.pk}).status_code
        == 404
    )


def test_manage_pages(agent_x, client_for, shared):
    client = client_for(agent_x)
    assert client.get("/macros/").status_code == 200
    response = client.post(
        "/macros/new/",
        {"shortcut": "bye", "title": "Bye", "body": "再见 {{customer.name}}", "active": "on"},
    )
    assert response.status_code == 302
    mine = CannedReply.objects.get(shortcut="bye")
    assert mine.owner == agent_x  # an agent's macro is personal, whatever they post
    bad = client.post(
        "/macros/new/", {"shortcut": "x", "title": "X", "body": "{{customer.secret}}"}
    )
    html = bad.content.decode()
    # The error names the placeholder (in the agent's language); the form keeps the text.
    assert bad.status_code == 400 and 'class="error"' in html
    assert html.count("customer.secret") == 2
    # An agent cannot make a shared macro by posting "shared".
    client.post("/macros/new/", {"shortcut": "s2", "title": "S", "body": "b", "shared": "on"})
    assert CannedReply.objects.get(shortcut="s2").owner == agent_x
    assert client.get(f"/macros/{shared.pk}/").status_code == 404
    assert client.post(f"/macros/{mine.pk}/delete/").status_code == 302
    assert not CannedReply.objects.filter(pk=mine.pk).exists()


def test_supervisor_creates_shared_macros(client_for, team_x):
    sup = make_agent("sup", role=AgentProfile.Role.SUPERVISOR)
    response = client_for(sup).post(
        "/macros/new/",
        {"shortcut": "team", "title": "T", "body": "b", "shared": "on", "team": team_x.pk},
    )
    assert response.status_code == 302
    macro = CannedReply.objects.get(shortcut="team")
    assert macro.owner is None and macro.team == team_x


def test_admin_validates(admin_user, client_for):
    client = client_for(admin_user)
    response = client.post(
        "/admin/service/cannedreply/add/",
        {"shortcut": "a", "title": "A", "body": "{{nope}}", "active": "on"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "errorlist" in html and html.count("nope") == 2
    assert not CannedReply.objects.exists()
