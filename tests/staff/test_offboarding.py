"""An agent leaves: their open work goes to a successor or back to the team queue."""

from __future__ import annotations

import pytest
from django.test import Client

from kefu.api.tokens import create_token
from kefu.conversations import actions
from kefu.conversations.models import Conversation, Message
from kefu.conversations.models import Status as S
from kefu.core.errors import ActionError
from kefu.core.events import AgentDeactivated, ConversationAssigned
from kefu.customers.models import Customer, TimelineEntry
from kefu.staff.access import agent_profile
from kefu.staff.models import AgentProfile
from kefu.staff.offboarding import deactivate_agent
from tests.factories import PASSWORD, CustomerFactory, make_agent, make_conversation


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


@pytest.fixture
def leaver(team_x):
    return make_agent("leaver", team_x)


@pytest.fixture
def work(leaver, team_x):
    """The leaver's open, solved and general-queue conversations and owned customers."""
    open_conv = make_conversation(team=team_x, subject="Open one")
    actions.send_reply(open_conv, agent=leaver, body_text="I will look into it")
    actions.add_note(open_conv, agent=leaver, body_text="note by leaver")
    pending_conv = make_conversation(team=team_x, subject="Pending one")
    actions.send_reply(pending_conv, agent=leaver, body_text="Photo?", status=S.PENDING)
    solved_conv = make_conversation(team=team_x, subject="Solved one")
    actions.send_reply(solved_conv, agent=leaver, body_text="Fixed", status=S.SOLVED)
    general_conv = make_conversation(subject="General queue one")
    actions.send_reply(general_conv, agent=leaver, body_text="Hello")
    owned = CustomerFactory(name="Owned", owner=leaver)
    owned_with_team = CustomerFactory(name="Owned with team", owner=leaver)
    return {
        "open": open_conv,
        "pending": pending_conv,
        "solved": solved_conv,
        "general": general_conv,
        "owned": owned,
        "owned_with_team": owned_with_team,
    }


def test_without_successor_work_goes_back_to_the_queue(
    leaver, admin_user, team_x, team_y, work, events, django_capture_on_commit_callbacks
):
    Customer.objects.filter(pk=work["owned_with_team"].pk).update(team=team_y)
    with django_capture_on_commit_callbacks(execute=True):
        reassigned = deactivate_agent(leaver, actor=admin_user)

    assert set(reassigned) == {work["open"].pk, work["pending"].pk, work["general"].pk}
    for name in ("open", "pending"):
        conversation = fresh(work[name])
        assert conversation.assignee is None
        assert conversation.team == team_x  # stays in its team's queue
    general = fresh(work["general"])
    assert (general.assignee, general.team) == (None, None)
    solved = fresh(work["solved"])
    assert solved.assignee == leaver  # closed-out history is left alone
    assert solved.status == S.SOLVED

    owned = fresh(work["owned"])
    assert owned.owner is None
    assert owned.team == team_x  # the agent's team looks after the customer now
    owned_with_team = fresh(work["owned_with_team"])
    assert (owned_with_team.owner, owned_with_team.team) == (None, team_y)
    assert TimelineEntry.objects.filter(
        customer=owned, kind="owner_changed", data__old="leaver", data__new=""
    ).exists()

    leaver.refresh_from_db()
    assert leaver.is_active is False
    assert leaver.agent_profile.presence == AgentProfile.Presence.OFFLINE

    # history keeps the author
    assert Message.objects.filter(author_agent=leaver).count() == 5
    assert TimelineEntry.objects.filter(actor=leaver, kind="reply_sent").count() == 4

    [event] = events.of(AgentDeactivated)
    assert (event.agent_id, event.successor_id, event.actor_id) == (leaver.pk, None, admin_user.pk)
    assert set(event.reassigned) == set(reassigned)
    assert len(events.of(ConversationAssigned)) == 3


def test_with_successor_work_is_reassigned(leaver, admin_user, team_x, work):
    successor = make_agent("successor", team_x)
    reassigned = deactivate_agent(leaver, actor=admin_user, successor=successor)
    assert set(reassigned) == {work["open"].pk, work["pending"].pk, work["general"].pk}
    for name in ("open", "pending", "general"):
        assert fresh(work[name]).assignee == successor
    assert fresh(work["solved"]).assignee == leaver
    assert fresh(work["owned"]).owner == successor
    assert fresh(work["owned"]).team is None  # the successor looks after them personally
    assert TimelineEntry.objects.filter(
        customer=work["owned"], kind="owner_changed", data__new="successor"
    ).exists()


def test_successor_outside_the_team_leaves_conversations_in_the_queue(
    leaver, admin_user, team_x, team_y, work
):
    outsider = make_agent("outsider", team_y)
    deactivate_agent(leaver, actor=admin_user, successor=outsider)
    for name in ("open", "pending"):
        conversation = fresh(work[name])
        assert (conversation.assignee, conversation.team) == (None, team_x)
    assert fresh(work["general"]).assignee == outsider  # the general queue has no team
    assert fresh(work["owned"]).owner == outsider


def test_supervisor_successor_takes_every_team(leaver, admin_user, work):
    boss = make_agent("boss2", role=AgentProfile.Role.SUPERVISOR)
    deactivate_agent(leaver, actor=admin_user, successor=boss)
    assert {fresh(work[n]).assignee for n in ("open", "pending", "general")} == {boss}


def test_refusals(leaver, admin_user, agent_x):
    with pytest.raises(ActionError, match="themselves"):
        deactivate_agent(leaver, actor=admin_user, successor=leaver)
    agent_x.is_active = False
    agent_x.save()
    with pytest.raises(ActionError, match="not an active agent"):
        deactivate_agent(leaver, actor=admin_user, successor=agent_x)
    with pytest.raises(ActionError, match="not an active agent"):
        deactivate_agent(agent_x, actor=admin_user)
    assert fresh(leaver).is_active


def test_deactivated_agent_can_no_longer_work(leaver, admin_user, work):
    open_conv = work["open"]
    session = Client()
    session.force_login(leaver)
    assert session.get(f"/c/{open_conv.pk}/").status_code == 200
    api = {"Authorization": f"Bearer {create_token(leaver)}"}
    assert Client().get("/api/conversations", headers=api).status_code == 200

    deactivate_agent(leaver, actor=admin_user)
    leaver = fresh(leaver)

    # the open session is dead
    response = session.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    response = session.post(f"/c/{open_conv.pk}/reply/", {"body": "one last thing"})
    assert response.status_code == 302
    assert not Message.objects.filter(body_text="one last thing").exists()
    # signing in again fails
    fresh_client = Client()
    response = fresh_client.post("/login/", {"username": "leaver", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in fresh_client.session
    # nor does the API token
    assert Client().get("/api/conversations", headers=api).status_code == 401
    # and the actions refuse the account
    assert agent_profile(leaver) is None
    with pytest.raises(ActionError):
        actions.send_reply(open_conv, agent=leaver, body_text="sneaky")
    with pytest.raises(ActionError):
        actions.assign(open_conv, actor=admin_user, assignee=leaver, team=open_conv.team)
    assert fresh(open_conv).assignee is None
    assert Conversation.objects.filter(assignee=leaver, status__in=[S.OPEN, S.PENDING]).count() == 0
