"""The issue's "done when": a VIP's complaint sent on the eve of a holiday gets the right due
times, is with the key-account team, shows a countdown, escalates to the supervisor before it
breaches, and the timeline explains each step."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from kefu.conversations.models import Conversation, Priority
from kefu.customers.models import Tier, TimelineEntry
from kefu.service.demo import COMPLAINT_SUBJECT, ensure_service_demo
from kefu.service.models import EscalationRule, SlaPolicy
from kefu.service.routing_demo import VIP_COMPLAINTS
from kefu.service.sweep import sweep
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, TeamFactory, make_agent
from tests.service.conftest import bj


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def desk(db):
    key_accounts = TeamFactory(name="大客户 Key accounts", slug="key-accounts")
    supervisor = make_agent(
        "demo", key_accounts, role=AgentProfile.Role.SUPERVISOR, email="demo@example.com"
    )
    manager = make_agent("chen.wei", key_accounts)
    CustomerFactory(name="张伟", tier=Tier.VIP, team=key_accounts, owner=manager)
    return key_accounts, supervisor


def test_vip_complaint_on_the_eve_of_national_day(desk, clock, commit, client):
    key_accounts, supervisor = desk
    clock.set(bj(2026, 9, 30, 17, 50))
    with commit():
        conversation = ensure_service_demo("demo")
    assert conversation is not None
    conversation = Conversation.objects.get(pk=conversation.pk)
    # Routed by the rule: the key-account team, the account manager, high priority.
    assert conversation.team == key_accounts
    assert conversation.assignee.username == "chen.wei"
    assert conversation.priority == Priority.HIGH
    routed = TimelineEntry.objects.get(conversation=conversation, kind="assigned")
    assert routed.data["by_rule"] == VIP_COMPLAINTS and routed.data["team"] == key_accounts.name
    assert conversation.sla_clock.policy.name.startswith("VIP 投诉")
    # 30 business minutes: 17:50–18:00 on the eve, closed 1–7 October, 20 on the 8th.
    assert conversation.first_response_due == bj(2026, 10, 8, 9, 20)
    # 480: 10 on the eve, 450 on the 8th (09:00–12:00, 13:30–18:00), 20 on the 9th.
    assert conversation.resolution_due == bj(2026, 10, 9, 9, 20)

    client.force_login(supervisor)
    clock.set(bj(2026, 10, 8, 9, 0))
    page = client.get(reverse("conversation", args=[conversation.pk])).content.decode()
    assert 'class="sla sla-ok"' in page and "0:20" in page

    # 80 % of 30 minutes is 24: 09:14 on the 8th, six minutes before the breach.
    with commit():
        assert sweep(bj(2026, 10, 8, 9, 15)) == 1
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.assignee == supervisor
    assert conversation.priority == Priority.URGENT
    assert "demo@example.com" in {to for m in mail.outbox for to in m.to}

    with commit():
        assert sweep(bj(2026, 10, 8, 9, 21)) == 1  # nobody answered: the breach is recorded
    steps = list(
        TimelineEntry.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert steps == [
        "conversation_opened",
        "priority_changed",  # the routing rule: high
        "tags_changed",  # vip-投诉
        "assigned",  # key accounts, the account manager
        "note_added",  # the automation rule's playbook
        "sla_applied",
        "sla_warning",
        "priority_changed",
        "assigned",
        "sla_escalated",
        "sla_breached",
        "sla_escalated",
    ]
    clock.set(bj(2026, 10, 8, 9, 25))
    page = client.get(reverse("conversation", args=[conversation.pk])).content.decode()
    assert "VIP complaint near breach" in page and "sla sla-breached" in page


def test_the_service_demo_is_idempotent(desk, clock, commit):
    with commit():
        first = ensure_service_demo("demo")
        second = ensure_service_demo("demo")
    assert first == second
    assert SlaPolicy.objects.count() == 5
    assert EscalationRule.objects.count() == 2
    assert Conversation.objects.filter(subject=COMPLAINT_SUBJECT).count() == 1
