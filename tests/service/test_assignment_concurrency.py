"""Routing under concurrent new conversations on PostgreSQL: several threads open
conversations at once for two teams that share an agent; no agent ends over capacity, no
conversation is assigned twice, no slot is left empty while conversations wait, and no
deadlock loses an assignment."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from kefu.conversations import actions
from kefu.conversations.models import Conversation
from kefu.customers.models import TimelineEntry
from kefu.service import policies
from kefu.service.models import Assign, AssignmentPolicy, RoutingRule, Strategy
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, TeamFactory, make_agent

THREADS = 8
EACH = 6
CAPACITY = 4

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks under concurrency: PostgreSQL (KEFU_DATABASE_URL)")


def test_no_agent_over_capacity_and_no_conversation_assigned_twice():
    team_a = TeamFactory(name="A", slug="a")
    team_b = TeamFactory(name="B", slug="b")
    agents = {
        "a1": make_agent("a1", team_a),
        "a2": make_agent("a2", team_a),
        "shared": make_agent("shared", team_a, team_b),
        "b1": make_agent("b1", team_b),
    }
    AgentProfile.objects.update(presence=AgentProfile.Presence.ONLINE, capacity=CAPACITY)
    AssignmentPolicy.objects.create(team=team_a, strategy=Strategy.LEAST_LOADED)
    AssignmentPolicy.objects.create(team=team_b, strategy=Strategy.ROUND_ROBIN)
    # Half the conversations reach team B through a routing rule, the others come with A.
    RoutingRule.objects.create(
        name="to B", keywords="team-b", set_team=team_b, assign=Assign.STRATEGY
    )
    policies.clear()
    customers = [CustomerFactory() for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            for n in range(EACH):
                to_b = (index + n) % 2 == 0
                actions.open_conversation(
                    customer=customers[index],
                    channel="web",
                    subject=f"{index}-{n}",
                    body_text="please help team-b" if to_b else "please help",
                    team=None if to_b else team_a,
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

    total = THREADS * EACH
    assert Conversation.objects.count() == total
    load = Counter(
        Conversation.objects.filter(assignee__isnull=False).values_list(
            "assignee__username", flat=True
        )
    )
    # Every agent is full, none over: more conversations arrived than there are slots.
    assert load == dict.fromkeys(agents, CAPACITY)
    # Assigned once: one assignment step per assigned conversation, by a strategy.
    steps = Counter(
        TimelineEntry.objects.filter(kind="assigned")
        .exclude(data__assignee="")
        .values_list("conversation_id", flat=True)
    )
    assert len(steps) == CAPACITY * len(agents)
    assert set(steps.values()) == {1}
    # The others wait, unassigned, with their team.
    waiting = Conversation.objects.filter(assignee__isnull=True)
    assert waiting.count() == total - CAPACITY * len(agents)
    assert not waiting.filter(team__isnull=True).exists()


def test_simultaneous_choices_for_one_team_never_overfill():
    """The narrowest race: every thread picks for the same team at the same instant, round
    after round (a barrier before each), on conversations that already exist."""
    team = TeamFactory(name="T", slug="t")
    for name in ("t1", "t2", "t3"):
        make_agent(name, team)
    AgentProfile.objects.update(presence=AgentProfile.Presence.ONLINE, capacity=CAPACITY)
    AssignmentPolicy.objects.create(team=team, strategy=Strategy.LEAST_LOADED)
    policies.clear()
    customer = CustomerFactory()
    rounds = 4
    ids = [
        actions.open_conversation(
            customer=customer, channel="web", subject=str(i), body_text="x"
        ).pk
        for i in range(THREADS * rounds)
    ]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        from kefu.service.assignment import assign_by_strategy

        try:
            for r in range(rounds):
                barrier.wait()
                conversation = Conversation.objects.get(pk=ids[r * THREADS + index])
                assign_by_strategy(conversation, team)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    load = Counter(
        Conversation.objects.filter(assignee__isnull=False).values_list(
            "assignee__username", flat=True
        )
    )
    assert load == {"t1": CAPACITY, "t2": CAPACITY, "t3": CAPACITY}
