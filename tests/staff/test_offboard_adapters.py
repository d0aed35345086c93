"""The admin action and the `kefu offboard` command both go through deactivate_agent."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from kefu.conversations.models import Conversation
from tests.factories import make_agent, make_conversation


@pytest.mark.django_db
def test_offboard_command_hands_work_to_a_colleague(team_x, agent_x, admin_user):
    colleague = make_agent("colleague", team_x)
    conversation = make_conversation(team=team_x)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=agent_x)
    call_command("offboard", "agent.x", "--to", "colleague")
    agent_x.refresh_from_db()
    assert not agent_x.is_active
    assert Conversation.objects.get(pk=conversation.pk).assignee == colleague
    with pytest.raises(CommandError):
        call_command("offboard", "nobody")


@pytest.mark.django_db
def test_admin_offboard_action(client, team_x, agent_x, admin_user):
    conversation = make_conversation(team=team_x)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=agent_x)
    client.force_login(admin_user)
    response = client.post(
        "/admin/auth/user/", {"action": "offboard", "_selected_action": [agent_x.pk]}
    )
    assert response.status_code == 302
    agent_x.refresh_from_db()
    assert not agent_x.is_active
    conversation.refresh_from_db()
    assert conversation.assignee is None and conversation.team == team_x
