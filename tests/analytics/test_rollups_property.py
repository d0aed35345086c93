"""Rollups kept by the listeners equal a recomputation from source, whatever happened, at every
grain (day, week, month) and in every shape (full rows, one dimension, totals; per tag)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.analytics.models import ALL, AgentDailyRollup, ConversationFact, DailyRollup
from kefu.analytics.rollups import _add, period_start, rebuild, recompute, stored
from kefu.conversations import actions
from kefu.conversations.models import Conversation
from kefu.core.errors import ActionError
from kefu.customers.actions import set_tier
from kefu.customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.sampled_from(["email", "chat", "web"]), st.booleans()),
        st.tuples(st.just("in"), st.integers(0, 5)),
        st.tuples(st.just("reply"), st.integers(0, 5), st.sampled_from(["", "solved", "pending"])),
        st.tuples(
            st.just("status"),
            st.integers(0, 5),
            st.sampled_from(["open", "pending", "solved", "closed"]),
        ),
        st.tuples(st.just("rate"), st.integers(0, 5), st.integers(1, 5)),
        st.tuples(st.just("team"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("kind"), st.integers(0, 5), st.sampled_from(["complaint", "request"])),
        st.tuples(st.just("tier"), st.sampled_from(["vip", "normal", "key_account"])),
        st.tuples(
            st.just("tag"),
            st.integers(0, 5),
            st.sampled_from(["扫地机器人", "refund"]),
            st.booleans(),
        ),
    ),
    min_size=1,
    max_size=14,
)


def normalized(rows):
    return {
        k: {n: (round(v, 4) if isinstance(v, float) else v) for n, v in values.items()}
        for k, values in rows.items()
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_rollups_equal_recomputation(steps, team_x, team_y, agent_x, commit):
    Conversation.objects.all().delete()
    DailyRollup.objects.all().delete()
    AgentDailyRollup.objects.all().delete()
    ConversationFact.objects.all().delete()
    customer = CustomerFactory()
    opened: list[Conversation] = []
    with commit():
        for step in steps:
            what = step[0]
            if what == "open":
                opened.append(
                    actions.open_conversation(
                        customer=customer,
                        channel=step[1],
                        subject="s",
                        body_text="q",
                        team=team_x if step[2] else None,
                    )
                )
                continue
            if what == "tier":
                set_tier(Customer.objects.get(pk=customer.pk), tier=step[1], actor=agent_x)
                continue
            if not opened:
                continue
            c = Conversation.objects.get(pk=opened[step[1] % len(opened)].pk)
            try:
                if what == "in":
                    actions.receive_message(c, body_text="again", channel=c.channel)
                elif what == "reply":
                    actions.send_reply(c, agent=agent_x, body_text="a", status=step[2] or None)
                elif what == "status":
                    actions.set_status(c, actor=agent_x, status=step[2])
                elif what == "rate":
                    actions.rate(c, score=step[2], source="survey")
                elif what == "team":
                    actions.assign(
                        c, actor=agent_x, assignee=None, team=team_y if step[2] else team_x
                    )
                elif what == "kind":
                    actions.set_kind(c, actor=agent_x, kind=step[2])
                elif what == "tag":
                    change = {"add" if step[3] else "remove": [step[2]]}
                    actions.tag(c, actor=agent_x, **change)
            except ActionError:
                pass  # e.g. a closed conversation takes no more messages
    assert normalized(stored()) == normalized(recompute())
    rebuild()  # day rows from the facts, weeks, months and summed shapes from the day rows
    assert normalized(stored()) == normalized(recompute())
    assert_levels_add_up()


def assert_levels_add_up():
    """Every week, month and summed-shape row is the sum of the full day rows under it."""
    rows = normalized(stored())
    for key, values in rows.items():
        if key[0] != "main" or (key[1] == "day" and ALL not in key[5:]):
            continue
        grain, first, tag, team, *dims = key[1:]
        total = {}
        for k, v in rows.items():
            if k[0] != "main" or k[1] != "day" or ALL in k[5:] or k[3:5] != (tag, team):
                continue
            if period_start(k[2], grain) != first:
                continue
            if any(d != ALL and d != kd for d, kd in zip(dims, k[5:], strict=True)):
                continue
            _add(total, v, 1)
        assert normalized({key: {n: x for n, x in total.items() if x}}) == {key: values}
