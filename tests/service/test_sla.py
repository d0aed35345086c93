"""SLA clocks: policy choice, due times over weekends and holidays, pauses, reopenings."""

from __future__ import annotations

import pytest

from kefu.conversations import actions
from kefu.conversations.models import Channel, Conversation, Kind, Priority, Status
from kefu.customers.models import Tier, TimelineEntry
from kefu.service.models import SlaClock, SlaPolicy
from tests.factories import CustomerFactory, make_conversation
from tests.service.conftest import bj


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def vip_complaints(china_calendar):
    return SlaPolicy.objects.create(
        name="VIP complaints",
        position=10,
        tiers="vip",
        kinds="complaint",
        calendar=china_calendar,
        first_response_minutes=180,
        next_response_minutes=60,
        resolution_minutes=600,
    )


@pytest.fixture
def standard(china_calendar):
    return SlaPolicy.objects.create(
        name="Standard",
        position=100,
        calendar=china_calendar,
        first_response_minutes=480,
        resolution_minutes=2400,
    )


@pytest.fixture
def vip(db):
    return CustomerFactory(name="王总", tier=Tier.VIP)


def fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


def open_complaint(commit, customer, **kw):
    with commit():
        return make_conversation(customer, subject="投诉：漏水", kind=Kind.COMPLAINT, **kw)


def test_vip_complaint_on_the_eve_of_national_day(vip, vip_complaints, standard, clock, commit):
    conversation = fresh(open_complaint(commit, vip))
    assert conversation.sla_clock.policy == vip_complaints
    # 16:00–18:00 on 30 September, closed 1–7 October.
    assert conversation.first_response_due == bj(2026, 10, 8, 10, 0)
    # 600 minutes: 120 on the eve, 480 on the 8th (09:00–12:00, 13:00–18:00).
    assert conversation.resolution_due == bj(2026, 10, 8, 18, 0)
    assert conversation.next_response_due is None
    assert conversation.sla_clock.first_response_warn_at == bj(2026, 10, 8, 9, 24)  # 80 %
    entry = TimelineEntry.objects.get(conversation=conversation, kind="sla_applied")
    assert entry.data["policy"] == "VIP complaints"


def test_first_matching_policy_by_position_wins(vip, vip_complaints, standard, clock, commit):
    normal = CustomerFactory(tier=Tier.NORMAL)
    with commit():
        question = make_conversation(normal)
    assert fresh(question).sla_clock.policy == standard
    vip_complaints.position = 200
    vip_complaints.save()
    assert fresh(open_complaint(commit, vip)).sla_clock.policy == standard


def test_conditions_on_priority_channel_and_team(china_calendar, team_x, team_y, clock, commit):
    policy = SlaPolicy.objects.create(
        name="Urgent chats of X",
        priorities="urgent",
        channels="chat",
        calendar=china_calendar,
        first_response_minutes=30,
    )
    policy.teams.add(team_x)
    with commit():
        hit = make_conversation(channel=Channel.CHAT, team=team_x, priority=Priority.URGENT)
        other_team = make_conversation(channel=Channel.CHAT, team=team_y, priority=Priority.URGENT)
        by_mail = make_conversation(channel=Channel.EMAIL, team=team_x, priority=Priority.URGENT)
    assert fresh(hit).first_response_due == bj(2026, 9, 30, 16, 30)
    assert not SlaClock.objects.filter(pk__in=[other_team.pk, by_mail.pk]).exists()


def test_no_policy_no_clock_and_no_queries(django_assert_num_queries, clock, customer):
    from kefu.core.events import MessageAdded
    from kefu.service.sla import update_clock

    event = MessageAdded(
        actor_id=None,
        conversation_id=1,
        team_id=None,
        assignee_id=None,
        message_id=1,
        direction="in",
    )
    with django_assert_num_queries(1):  # the (empty) policy list, cached for a minute
        update_clock(event)
    with django_assert_num_queries(0):
        update_clock(event)


def test_codes_are_validated(china_calendar):
    from django.core.exceptions import ValidationError

    policy = SlaPolicy(name="x", tiers="vip,gold", calendar=china_calendar)
    with pytest.raises(ValidationError):
        policy.full_clean()


def test_raising_the_kind_switches_policy(vip, vip_complaints, standard, clock, commit, agent_x):
    with commit():
        conversation = make_conversation(vip, subject="漏水")
    assert fresh(conversation).first_response_due == bj(2026, 10, 8, 16, 0)  # 480 minutes
    clock.set(bj(2026, 9, 30, 17, 0))
    with commit():
        actions.set_kind(conversation, actor=agent_x, kind=Kind.COMPLAINT)
    conversation = fresh(conversation)
    assert conversation.sla_clock.policy == vip_complaints
    assert conversation.first_response_due == bj(2026, 10, 8, 10, 0)  # from the opening
    assert TimelineEntry.objects.filter(conversation=conversation, kind="sla_applied").count() == 2


def test_pending_pauses_and_the_customer_reply_resumes(vip, vip_complaints, clock, commit, agent_x):
    conversation = open_complaint(commit, vip)
    clock.set(bj(2026, 10, 8, 9, 0))
    with commit():
        actions.send_reply(
            conversation, agent=agent_x, body_text="请提供照片", status=Status.PENDING
        )
    conversation = fresh(conversation)
    assert conversation.sla_clock.paused_at == bj(2026, 10, 8, 9, 0)
    assert conversation.sla_clock.next_check_at is None
    # The customer answers the next (adjusted working) Saturday at 10:00: paused
    # 09:00–18:00 on the 8th and the 9th (480 + 480) and 09:00–10:00 on the 10th (60).
    clock.set(bj(2026, 10, 10, 10, 0))
    with commit():
        actions.receive_message(conversation, body_text="照片见附件")
    conversation = fresh(conversation)
    assert conversation.sla_clock.paused_at is None
    assert conversation.sla_clock.paused_minutes == 1020
    # Resolution: 600 + 1020 business minutes after the opening.
    assert conversation.resolution_due == bj(2026, 10, 12, 10, 0)
    # The customer's message starts the next-response clock (60 minutes, not paused).
    assert conversation.next_response_due == bj(2026, 10, 10, 11, 0)
    assert TimelineEntry.objects.filter(conversation=conversation, kind="sla_resumed").exists()
    with commit():
        actions.send_reply(conversation, agent=agent_x, body_text="已安排上门")
    conversation = fresh(conversation)
    assert conversation.next_response_due is None
    assert conversation.resolution_due == bj(2026, 10, 12, 10, 0)


def ready_to_solve(conversation, agent):
    """A complaint is solved only once acknowledged, with a resolution note and root cause."""
    from kefu.conversations.complaints import acknowledge_complaint, resolve_complaint
    from kefu.conversations.models import RootCause

    acknowledge_complaint(conversation, actor=agent)
    cause = RootCause.objects.create(name="test cause")
    resolve_complaint(conversation, actor=agent, note="fixed", root_cause=cause, solve=False)


def test_solved_stops_and_a_reopening_resumes(vip, vip_complaints, clock, commit, agent_x):
    conversation = open_complaint(commit, vip)
    clock.set(bj(2026, 10, 8, 10, 0))
    ready_to_solve(conversation, agent_x)
    with commit():
        actions.send_reply(conversation, agent=agent_x, body_text="已处理", status=Status.SOLVED)
    assert fresh(conversation).sla_clock.next_check_at is None
    clock.set(bj(2026, 10, 8, 14, 0))  # 10:00–12:00 and 13:00–14:00: 180 minutes solved
    with commit():
        actions.receive_message(conversation, body_text="还是漏水")
    conversation = fresh(conversation)
    assert conversation.status == Status.OPEN
    assert conversation.sla_clock.paused_minutes == 180
    assert conversation.resolution_due == bj(2026, 10, 9, 12, 0)  # 18:00 + 180
    assert conversation.sla_clock.next_check_at is not None


def test_closed_stops_the_clock(vip, vip_complaints, clock, commit, agent_x):
    conversation = open_complaint(commit, vip)
    ready_to_solve(conversation, agent_x)
    with commit():
        actions.set_status(conversation, actor=agent_x, status=Status.CLOSED)
    assert fresh(conversation).sla_clock.next_check_at is None
