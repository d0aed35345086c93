"""The periodic sweep: each warning and breach fires once, escalations act, the timeline says
what happened."""

from __future__ import annotations

import pytest
from django.core import mail

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Kind, Priority
from kefu.core.events import SlaBreached, SlaWarning, listen
from kefu.customers.models import Tier, TimelineEntry
from kefu.service.models import EscalationRule, SlaPolicy
from kefu.service.sweep import sla_sweep, sweep
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, make_agent, make_conversation
from tests.service.conftest import bj


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def sla_events():
    seen: list = []

    @listen(SlaWarning, SlaBreached)
    def collect(event):
        seen.append(event)

    yield seen
    from kefu.core import events

    for klass in (SlaWarning, SlaBreached):
        events._listeners[klass].remove(collect)


@pytest.fixture
def policy(china_calendar):
    return SlaPolicy.objects.create(
        name="VIP complaints",
        tiers="vip",
        kinds="complaint",
        calendar=china_calendar,
        first_response_minutes=180,
        resolution_minutes=600,
        warn_percent=80,
    )


@pytest.fixture
def complaint(policy, clock, commit, team_x, agent_x):
    with commit():
        return make_conversation(
            CustomerFactory(name="王总", tier=Tier.VIP),
            subject="投诉：漏水",
            kind=Kind.COMPLAINT,
            team=team_x,
        )


def fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


def test_warning_then_breach_each_once(complaint, clock, commit, sla_events):
    # Due 10-08 10:00; 80 % of 180 minutes is 144: 10-08 09:24.
    with commit():
        assert sweep(bj(2026, 10, 8, 9, 0)) == 0
    with commit():
        assert sweep(bj(2026, 10, 8, 9, 30)) == 1
    with commit():
        assert sweep(bj(2026, 10, 8, 9, 45)) == 0
    assert [(type(e), e.target) for e in sla_events] == [(SlaWarning, "first_response")]
    with commit():
        assert sweep(bj(2026, 10, 8, 10, 1)) == 1
    with commit():
        assert sweep(bj(2026, 10, 8, 10, 5)) == 0
    assert [type(e) for e in sla_events] == [SlaWarning, SlaBreached]
    assert sla_events[1].due_at == bj(2026, 10, 8, 10, 0)
    kinds = list(
        TimelineEntry.objects.filter(conversation=complaint, kind__startswith="sla_")
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == ["sla_applied", "sla_warning", "sla_breached"]
    # The resolution clock still runs: its warning is next.
    assert fresh(complaint).sla_clock.next_check_at == bj(2026, 10, 8, 16, 0)


def test_a_late_sweep_fires_the_breach_without_the_warning(complaint, commit, sla_events):
    with commit():
        assert sweep(bj(2026, 10, 8, 11, 0)) == 1
    assert [type(e) for e in sla_events] == [SlaBreached]


def test_answered_in_time_never_fires(complaint, clock, commit, agent_x, sla_events):
    clock.set(bj(2026, 10, 8, 9, 10))
    with commit():
        actions.send_reply(complaint, agent=agent_x, body_text="您好")
    with commit():
        sweep(bj(2026, 10, 8, 11, 0))
    assert sla_events == []


def test_the_sweep_is_a_constant_number_of_queries(
    policy, clock, commit, django_assert_num_queries
):
    customer = CustomerFactory(tier=Tier.VIP)
    with commit():
        make_conversation(customer, kind=Kind.COMPLAINT)
    # Read, update the clocks, insert the timeline rows (+ the savepoint pair of the test's
    # transaction).
    with django_assert_num_queries(5):
        assert sweep(bj(2026, 10, 8, 11, 0)) == 1
    with commit():
        for _ in range(5):
            make_conversation(customer, kind=Kind.COMPLAINT)
    with django_assert_num_queries(5):
        assert sweep(bj(2026, 10, 8, 11, 0)) == 5
    with django_assert_num_queries(3):
        assert sweep(bj(2026, 10, 8, 11, 0)) == 0


def test_the_periodic_task_sweeps_now(complaint, clock, commit):
    clock.set(bj(2026, 10, 8, 9, 30))
    with commit():
        result = sla_sweep.enqueue()
    assert result.return_value == 1


def test_escalation_to_the_supervisor(complaint, policy, clock, commit, team_x, agent_x):
    boss = make_agent("boss", team_x, role=AgentProfile.Role.SUPERVISOR, email="boss@example.com")
    actions.assign(complaint, actor=None, assignee=agent_x, team=team_x)
    EscalationRule.objects.create(
        name="VIP complaint to the supervisor",
        on=EscalationRule.On.WARNING,
        target="first_response",
        policy=policy,
        notify_assignee=True,
        notify_user=boss,
        email=True,
        raise_priority=Priority.URGENT,
        reassign_agent=boss,
    )
    with commit():
        sweep(bj(2026, 10, 8, 9, 30))
    conversation = fresh(complaint)
    assert conversation.priority == Priority.URGENT
    assert conversation.assignee == boss
    assert conversation.team == team_x
    entry = TimelineEntry.objects.get(conversation=conversation, kind="sla_escalated")
    assert entry.data["rule"] == "VIP complaint to the supervisor"
    assert entry.data["priority"] == Priority.URGENT
    assert len(entry.data["notified"]) == 2  # the assignee of the moment and the supervisor
    assert entry.data["assignee"]
    assert "boss@example.com" in {to for m in mail.outbox for to in m.to}
    assert "SLA" in mail.outbox[-1].subject
    kinds = list(
        TimelineEntry.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert (
        kinds.index("sla_warning") < kinds.index("priority_changed") < kinds.index("sla_escalated")
    )


def test_rules_for_breaches_ignore_warnings(complaint, policy, clock, commit, agent_x):
    EscalationRule.objects.create(name="late", on=EscalationRule.On.BREACHED, raise_priority="high")
    with commit():
        sweep(bj(2026, 10, 8, 9, 30))
    assert fresh(complaint).priority == Priority.NORMAL
    with commit():
        sweep(bj(2026, 10, 8, 10, 30))
    assert fresh(complaint).priority == Priority.HIGH


def test_escalation_toasts_the_agent(complaint, policy, clock, commit, agent_x, monkeypatch):
    from kefu.core import realtime

    sent = []
    monkeypatch.setattr(realtime, "publish", lambda groups, message: sent.append((groups, message)))
    actions.assign(complaint, actor=None, assignee=agent_x, team=complaint.team)
    EscalationRule.objects.create(name="tell", on=EscalationRule.On.WARNING)
    with commit():
        sweep(bj(2026, 10, 8, 9, 30))
    toasts = [m for g, m in sent if m.get("type") == "workspace.frame"]
    assert toasts and toasts[0]["frame"]["op"] == "toast"
    assert toasts[0]["frame"]["href"] == f"/c/{complaint.pk}/"
    assert [g for g, m in sent if m is toasts[0]] == [[realtime.agent_group(agent_x.pk)]]


def test_marks_are_stored_as_the_orm_stores_them(complaint, commit):
    from kefu.service.models import SlaClock

    with commit():
        sweep(bj(2026, 10, 8, 9, 30))
    # The next check (the breach at 10:00) is found by the ORM's own comparison.
    assert SlaClock.objects.filter(next_check_at__lte=bj(2026, 10, 8, 10, 0)).count() == 1
    assert SlaClock.objects.filter(next_check_at__lt=bj(2026, 10, 8, 10, 0)).count() == 0
    assert SlaClock.objects.get().next_check_at == bj(2026, 10, 8, 10, 0)
