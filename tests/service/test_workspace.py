"""The countdown in the inbox and on the conversation page; SLA steps on the timeline."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Kind, Status
from kefu.customers.models import Tier
from kefu.service.models import EscalationRule, SlaPolicy
from kefu.service.sweep import sweep
from kefu.service.templatetags.sla import countdown, remaining
from tests.factories import CustomerFactory, make_conversation
from tests.service.conftest import bj


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def policy(china_calendar):
    return SlaPolicy.objects.create(
        name="VIP complaints",
        tiers="vip",
        kinds="complaint",
        calendar=china_calendar,
        first_response_minutes=180,
        resolution_minutes=600,
    )


def complaint(commit, team):
    with commit():
        return make_conversation(
            CustomerFactory(tier=Tier.VIP), kind=Kind.COMPLAINT, team=team, subject="漏水"
        )


def test_remaining_text():
    assert remaining(3 * 3600 + 5 * 60 + 59) == "3:05"
    assert remaining(50 * 3600) == "50:00"
    assert remaining(-90) == "−0:01"


def test_countdown_states(policy, clock, commit, team_x, agent_x):
    conversation = Conversation.objects.get(pk=complaint(commit, team_x).pk)
    assert countdown(conversation, bj(2026, 10, 8, 9, 0))["state"] == "ok"
    assert countdown(conversation, bj(2026, 10, 8, 9, 30))["state"] == "near"
    late = countdown(conversation, bj(2026, 10, 8, 10, 30))
    assert (late["state"], late["target"], late["text"]) == ("breached", "first_response", "−0:30")
    with commit():
        actions.set_status(conversation, actor=agent_x, status=Status.PENDING)
    assert countdown(Conversation.objects.get(pk=conversation.pk))["state"] == "paused"


def test_inbox_and_page_show_the_countdown(policy, clock, commit, team_x, agent_x, client):
    conversation = complaint(commit, team_x)
    client.force_login(agent_x)
    clock.set(bj(2026, 10, 8, 9, 30))
    inbox = client.get(reverse("inbox")).content.decode()
    assert 'class="sla sla-near"' in inbox
    assert "data-sla-due=" in inbox and "0:30" in inbox
    page = client.get(reverse("conversation", args=[conversation.pk])).content.decode()
    assert 'id="sla-prop"' in page and "VIP complaints" in page


def test_the_inbox_reads_clocks_with_its_rows(policy, clock, commit, team_x, agent_x, client):
    complaint(commit, team_x)
    client.force_login(agent_x)
    client.get(reverse("inbox"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("inbox"))
    for _ in range(3):
        complaint(commit, team_x)
    with CaptureQueriesContext(connection) as four:
        client.get(reverse("inbox"))
    assert len(four) == len(one)


def test_every_sla_step_is_on_the_timeline(policy, clock, commit, team_x, agent_x, client):
    conversation = complaint(commit, team_x)
    EscalationRule.objects.create(
        name="升级到主管", on=EscalationRule.On.WARNING, raise_priority="urgent"
    )
    with commit():
        sweep(bj(2026, 10, 8, 9, 30))
    client.force_login(agent_x)
    page = client.get(reverse("conversation", args=[conversation.pk])).content.decode()
    for text in ("VIP complaints", "China office", "升级到主管"):
        assert text in page
    assert page.count('class="event"') >= 4
