"""Assignment strategies per team: manual, round robin, least loaded, skills; only online
agents below their capacity; a person moving a conversation to a team gets its strategy."""

from __future__ import annotations

import pytest

from kefu.conversations import actions
from kefu.conversations.models import Channel, Conversation, Status
from kefu.customers.models import TimelineEntry
from kefu.service.assignment import assign_by_strategy, loads
from kefu.service.models import AssignmentPolicy, Strategy
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, TeamFactory, make_agent

ONLINE = AgentProfile.Presence.ONLINE


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def team(db):
    return TeamFactory(name="After-sales", slug="aftersales")


def agent(name, team, *, presence=ONLINE, capacity=3, skills=""):
    user = make_agent(name, team)
    AgentProfile.objects.filter(user=user).update(
        presence=presence, capacity=capacity, skills=skills
    )
    return user


def policy(team, strategy, **kw):
    return AssignmentPolicy.objects.create(team=team, strategy=strategy, **kw)


def open_(commit, team, **kw):
    kw.setdefault("channel", Channel.WEB)
    with commit():
        conversation = actions.open_conversation(
            customer=CustomerFactory(), subject="Hi", body_text="help", team=team, **kw
        )
    return Conversation.objects.get(pk=conversation.pk)


def test_manual_teams_leave_conversations_unassigned(commit, team):
    agent("a", team)
    policy(team, Strategy.MANUAL)
    assert open_(commit, team).assignee is None


def test_least_loaded_respects_presence_and_capacity(commit, team):
    busy = agent("busy", team, capacity=2)
    free = agent("free", team, capacity=2)
    agent("away", team, presence=AgentProfile.Presence.AWAY, capacity=9)
    agent("offline", team, presence=AgentProfile.Presence.OFFLINE, capacity=9)
    policy(team, Strategy.LEAST_LOADED)
    first = open_(commit, team)
    assert first.assignee == busy  # equal loads: the lower id
    got = [open_(commit, team).assignee for _ in range(3)]
    assert got == [free, busy, free]
    # Both are full (2 each): the next one waits in the team's queue.
    waiting = open_(commit, team)
    assert waiting.assignee is None and waiting.team == team
    assert loads([busy.pk, free.pk]) == {busy.pk: 2, free.pk: 2}
    # Pending conversations wait on the customer and do not count: the waiting one moves.
    with commit():
        actions.set_status(first, actor=busy, status=Status.PENDING)
    assert Conversation.objects.get(pk=waiting.pk).assignee == busy


def test_the_team_limit_overrides_the_agents_capacity(commit, team):
    only = agent("only", team, capacity=1)
    policy(team, Strategy.LEAST_LOADED, max_open=3)
    assert [open_(commit, team).assignee for _ in range(4)] == [only, only, only, None]


def test_round_robin_takes_turns_among_those_with_room(commit, team):
    a, b, c = agent("a", team), agent("b", team), agent("c", team)
    AgentProfile.objects.filter(user=b).update(presence=AgentProfile.Presence.OFFLINE)
    policy(team, Strategy.ROUND_ROBIN)
    assert [open_(commit, team).assignee for _ in range(4)] == [a, c, a, c]


def test_skills_match_tags_and_language_then_load(commit, team):
    agent("generalist", team)
    cantonese = agent("amy", team, skills="粵語, 繁體中文, 空氣清新機")
    robots = agent("li.na", team, skills="退换货, 扫地机器人")
    policy(team, Strategy.SKILLS)
    assert open_(commit, team, language="zh-hant").assignee == cantonese
    conversation = open_(commit, None)
    with commit():
        actions.tag(conversation, actor=None, add=["扫地机器人"])
    assert assign_by_strategy(conversation, team) == robots
    # Nobody has the skill: the least loaded of everyone.
    assert open_(commit, team, language="en").assignee.username == "generalist"


def test_a_person_moving_a_conversation_to_a_team_gets_its_strategy(commit, team):
    boss = make_agent("boss", role=AgentProfile.Role.SUPERVISOR)
    helper = agent("helper", team)
    policy(team, Strategy.LEAST_LOADED)
    conversation = open_(commit, None)
    assert conversation.assignee is None
    with commit():
        actions.assign(conversation, actor=boss, assignee=None, team=team)
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.assignee == helper
    entry = TimelineEntry.objects.filter(conversation=conversation, kind="assigned").earliest("pk")
    assert entry.actor == boss
    entry = TimelineEntry.objects.filter(conversation=conversation, kind="assigned").latest("pk")
    assert entry.data["by_rule"].startswith(team.name)


def test_live_chats_keep_their_own_queue(commit, team):
    agent("a", team)
    policy(team, Strategy.LEAST_LOADED)
    assert open_(commit, team, channel=Channel.CHAT).assignee is None


def test_an_agent_of_the_team_keeps_the_conversation(commit, team):
    mine = agent("mine", team)
    agent("other", team)
    policy(team, Strategy.LEAST_LOADED)
    conversation = open_(commit, None)
    with commit():
        actions.assign(conversation, actor=mine, assignee=mine, team=team)
    assert assign_by_strategy(conversation, team) == mine


def test_waiting_conversations_move_when_an_agent_comes_online(commit, team):
    sleepy = agent("sleepy", team, presence=AgentProfile.Presence.OFFLINE, capacity=2)
    policy(team, Strategy.LEAST_LOADED)
    waiting = [open_(commit, team) for _ in range(3)]
    assert all(c.assignee is None for c in waiting)
    from kefu.staff.actions import update_profile

    with commit():
        update_profile(AgentProfile.objects.get(user=sleepy), presence=ONLINE)
    got = [Conversation.objects.get(pk=c.pk).assignee for c in waiting]
    assert got == [sleepy, sleepy, None]  # oldest first, up to capacity


def test_a_solved_conversation_frees_a_slot_for_the_next(commit, team):
    only = agent("only", team, capacity=1)
    policy(team, Strategy.LEAST_LOADED)
    first, second = open_(commit, team), open_(commit, team)
    assert (first.assignee, second.assignee) == (only, None)
    with commit():
        actions.send_reply(first, agent=only, body_text="fixed", status=Status.SOLVED)
    assert Conversation.objects.get(pk=second.pk).assignee == only
