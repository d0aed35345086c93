"""An agent sees the conversations of their teams, of no team and those assigned to them;
anything else does not exist for them (404, and absent from lists)."""

from __future__ import annotations

import pytest

from kefu.conversations import actions
from kefu.conversations.models import Conversation
from tests.factories import make_conversation

WRITES = [
    ("reply", {"body": "hi"}),
    ("note", {"body": "hi"}),
    ("messages", {"body": "hi"}),
    ("assign", {"assignee_id": None}),
    ("status", {"status": "solved"}),
    ("priority", {"priority": "urgent"}),
    ("tags", {"add": ["x"]}),
]


@pytest.fixture
def of_team_x(team_x):
    return make_conversation(team=team_x, subject="team x only")


def test_other_teams_conversation_is_404(api_y, of_team_x):
    response = api_y.get(f"/api/conversations/{of_team_x.pk}")
    assert response.status_code == 404
    assert response.json() == {"detail": "not found"}


@pytest.mark.parametrize(("action", "payload"), WRITES)
def test_other_teams_conversation_cannot_be_changed(api_y, of_team_x, action, payload):
    before = Conversation.objects.get(pk=of_team_x.pk)
    response = api_y.post(f"/api/conversations/{of_team_x.pk}/{action}", payload)
    assert response.status_code == 404
    after = Conversation.objects.get(pk=of_team_x.pk)
    assert (after.status, after.priority, after.updated_at) == (
        before.status,
        before.priority,
        before.updated_at,
    )
    assert after.messages.count() == 1 and not after.tags.exists()


def test_lists_leave_out_other_teams(api_x, api_y, of_team_x, team_y):
    make_conversation(team=team_y, subject="team y only")
    make_conversation(subject="general queue")

    def subjects(api, **params):
        return sorted(c["subject"] for c in api.get("/api/conversations", params).json()["items"])

    assert subjects(api_y) == ["general queue", "team y only"]
    assert subjects(api_x) == ["general queue", "team x only"]
    assert api_y.get("/api/conversations", {"team": of_team_x.team_id}).json()["count"] == 0
    assert api_y.get("/api/conversations", {"customer": of_team_x.customer_id}).json() == {
        "count": 0,
        "limit": 50,
        "offset": 0,
        "items": [],
    }


def test_a_conversation_assigned_to_the_agent_stays_visible(api_y, agent_x, agent_y, of_team_x):
    agent_y.agent_profile.teams.add(of_team_x.team)
    actions.assign(of_team_x, actor=agent_x, assignee=agent_y, team=of_team_x.team)
    agent_y.agent_profile.teams.remove(of_team_x.team)  # moved to another team since
    assert api_y.get(f"/api/conversations/{of_team_x.pk}").status_code == 200
    assert api_y.get("/api/conversations", {"assignee": "me"}).json()["count"] == 1


def test_admins_see_everything(api_admin, of_team_x, team_y):
    make_conversation(team=team_y)
    assert api_admin.get("/api/conversations").json()["count"] == 2
    assert api_admin.get(f"/api/conversations/{of_team_x.pk}").status_code == 200
