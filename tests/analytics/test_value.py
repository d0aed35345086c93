"""Customer value, RFM segments, the Pareto curve and retention after a complaint, against a
hand-computed fixture (no business calendar: wall-clock minutes; days counted back from now).

A  orders 1,000 ten days ago. Complaint opened 200 days ago, solved two hours later (fast);
   wrote again 150 days ago (within 90 days of the resolution): came back.
B  orders 300, 250 days ago. Complaint opened 300 days ago, solved three days later (slow);
   the order, 47 days after the resolution, is within the 90: came back by ordering.
C  orders 100, 400 days ago. Complaint opened 200 days ago, solved two days later (slow);
   nothing since: did not come back.

Value ranked 1,000 / 300 / 100 of 1,400: two customers of three (66.7 %) make 80 %.
Segments: A new (one order, 10 days), B at risk (250 days), C lost (over a year).
Retention: fast 1 complaint, 1 came back (contacted); slow 2 complaints, 1 came back (ordered).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.analytics.models import CustomerValue, Order, Snapshot
from kefu.analytics.rollups import refresh
from kefu.analytics.value import refresh_values
from kefu.conversations import actions
from kefu.conversations.models import Conversation
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def conversation(customer, opened_days_ago, solved_after=None, *, kind="question", agent):
    now = timezone.now()
    c = actions.open_conversation(customer=customer, channel="web", subject="s", body_text="q")
    opened = now - timedelta(days=opened_days_ago)
    fields = {"created_at": opened}
    if solved_after is not None:
        actions.set_status(c, actor=agent, status="solved")
        fields["solved_at"] = opened + solved_after
    if kind != "question":
        actions.set_kind(c, actor=agent, kind=kind)
    Conversation.objects.filter(pk=c.pk).update(**fields)
    refresh(c.pk)
    return c


def test_value_segments_pareto_and_complaint_retention(agent_x):
    now = timezone.now()
    a, b, c = (CustomerFactory(name=n) for n in "ABC")
    Order.objects.create(customer=a, amount=1000, ordered_at=now - timedelta(days=10))
    Order.objects.create(customer=b, amount=300, ordered_at=now - timedelta(days=250))
    Order.objects.create(customer=c, amount=100, ordered_at=now - timedelta(days=400))
    conversation(a, 200, timedelta(hours=2), kind="complaint", agent=agent_x)
    conversation(a, 150, agent=agent_x)
    conversation(b, 300, timedelta(days=3), kind="complaint", agent=agent_x)
    conversation(c, 200, timedelta(days=2), kind="complaint", agent=agent_x)

    assert refresh_values() == 3
    values = {v.customer_id: v for v in CustomerValue.objects.all()}
    assert [float(values[x.pk].value) for x in (a, b, c)] == [1000, 300, 100]
    assert [values[x.pk].segment for x in (a, b, c)] == ["new", "at_risk", "lost"]
    assert values[a.pk].contacts == 2
    segments = Snapshot.objects.get(key="segments").data  # what the dashboard shows
    assert segments == {"new": 1, "at_risk": 1, "lost": 1}

    pareto = Snapshot.objects.get(key="pareto").data
    assert (pareto["customers"], pareto["value"], pareto["top80"]) == (3, 1400.0, 66.7)
    assert pareto["value_share"] == [71.4, 92.9, 100.0]
    assert [t["customer_id"] for t in pareto["top"]] == [a.pk, b.pk, c.pk]

    retention = Snapshot.objects.get(key="complaint_retention").data
    assert retention["fast"] == {"complaints": 1, "contacted": 1, "ordered": 0, "returned": 1}
    assert retention["slow"] == {"complaints": 2, "contacted": 0, "ordered": 1, "returned": 1}
