"""NPS on a schedule: a recurring campaign schedules its next round when it is done; each
round leaves out customers surveyed in the last N days; a detractor's score opens a task for
the owner or the team lead and raises churn risk; follow-up sequences stop when the customer
writes in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.utils import timezone

from kefu.care import campaigns, sending
from kefu.care.models import Campaign, CareTask, Delivery, FollowUpRule, Health
from kefu.care.tasks import care_tick
from tests.care.conftest import make_campaign, make_template
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def survey_path(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return "/" + re.search(r"https?://[^/]+/(care/s/\S+/)", body).group(1)


def test_quarterly_nps_schedules_rounds_and_throttles_per_customer(smtp_sink, settings):
    settings.KEFU_CARE_SURVEY_EVERY_DAYS = 60
    a = CustomerFactory(consent_email=True)
    b = CustomerFactory(consent_email=True)
    first = make_campaign(kind="nps", purpose="service", repeat_every_days=91)
    first.template.versions.update(body_text="How likely? {{ survey_url }}")
    campaigns.start(first)
    campaigns.run(first.pk)
    first.refresh_from_db()
    assert first.status == Campaign.Status.DONE and len(smtp_sink.received) == 2

    second = Campaign.objects.get(previous=first)
    assert second.status == Campaign.Status.SCHEDULED and second.kind == "nps"
    assert second.scheduled_at == first.started_at + timedelta(days=91)
    assert second.repeat_every_days == 91 and second.template_id == first.template_id
    assert campaigns.next_round(first) == second  # idempotent
    assert campaigns.schedule_next_rounds() == 0

    # A quarter later (the first round's rows are 91 days old); b answered a CSAT survey
    # 10 days ago, so the throttle leaves b out of this round.
    Delivery.objects.update(created_at=F("created_at") - timedelta(days=91))
    Delivery.objects.create(
        key="csat:b",
        kind=Delivery.Kind.CSAT,
        purpose="service",
        customer=b,
        address="elsewhere@example.com",
        state=Delivery.State.SENT,
    )
    Campaign.objects.filter(pk=second.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    care_tick.call()  # the scheduler starts the due round and runs it
    second.refresh_from_db()
    assert second.status == Campaign.Status.DONE
    received = [r.rcpt_tos[0] for r in smtp_sink.received]
    assert received.count(f"customer{a.pk}@example.com") == 2
    assert received.count(f"customer{b.pk}@example.com") == 1
    assert Campaign.objects.get(previous=second).status == Campaign.Status.SCHEDULED


def test_missed_rounds_are_skipped_not_sent_in_a_burst():
    campaign = make_campaign(kind="nps", purpose="service", repeat_every_days=30)
    long_ago = timezone.now() - timedelta(days=100)
    Campaign.objects.filter(pk=campaign.pk).update(
        status="done", scheduled_at=long_ago, started_at=long_ago
    )
    campaign.refresh_from_db()
    assert campaigns.schedule_next_rounds() == 1
    following = Campaign.objects.get(previous=campaign)
    assert following.scheduled_at == long_ago + timedelta(days=120)
    once = make_campaign()  # not recurring
    Campaign.objects.filter(pk=once.pk).update(status="done")
    assert campaigns.schedule_next_rounds() == 0


def test_detractor_opens_a_task_for_the_team_lead_and_raises_churn_risk(
    smtp_sink, agent_x, agent_y, team_x
):
    team_x.lead = agent_y
    team_x.save()
    customer = CustomerFactory(consent_email=True, owner=None, team=team_x)
    promoter = CustomerFactory(consent_email=True, owner=agent_x)
    campaign = make_campaign(kind="nps", purpose="service")
    campaign.template.versions.update(body_text="How likely? {{ survey_url }}")
    campaigns.start(campaign)
    campaigns.run(campaign.pk)
    by_address = {r.rcpt_tos[0]: r.message() for r in smtp_sink.received}
    client = Client()
    detractor_path = survey_path(by_address[f"customer{customer.pk}@example.com"])
    assert client.post(detractor_path, {"score": "2", "comment": "slow"}).status_code == 200
    promoter_path = survey_path(by_address[f"customer{promoter.pk}@example.com"])
    assert client.post(promoter_path, {"score": "10"}).status_code == 200

    task = CareTask.objects.get()
    assert task.customer == customer and task.assignee == agent_y  # no owner: the team lead
    assert "NPS" in task.title and "2" in task.title
    assert Health.objects.get(customer=customer).churn_risk >= 30
    assert Health.objects.get(customer=promoter).churn_risk == 0
    assert Health.objects.get(customer=promoter).last_nps == 10


@pytest.mark.django_db(transaction=True)
def test_follow_up_sequence_stops_when_the_customer_writes_in(agent_x, team_x):
    from django.core import mail

    from kefu.conversations import actions

    FollowUpRule.objects.create(name="day 3", days=3, template=make_template("d3"))
    FollowUpRule.objects.create(name="day 30", days=30, template=make_template("d30"))
    customer = CustomerFactory(consent_email=True)
    conversation = actions.open_conversation(
        customer=customer, channel="email", subject="Repair", body_text="help", team=team_x
    )
    actions.set_status(conversation, actor=agent_x, status="solved")
    steps = list(Delivery.objects.filter(kind="follow_up").order_by("due_at"))
    assert [s.template.name for s in steps] == ["d3", "d30"]
    # Day 3 is due and goes out; day 30 waits.
    Delivery.objects.filter(pk=steps[0].pk).update(due_at=timezone.now() - timedelta(seconds=1))
    mail.outbox = []
    sending.send_due()
    assert [m.to[0] for m in mail.outbox] == [f"customer{customer.pk}@example.com"]
    # A sender claimed day 30 just as the customer writes in: it is cancelled all the same.
    Delivery.objects.filter(pk=steps[1].pk).update(state="claimed")
    actions.receive_message(conversation, body_text="it broke again", channel="email")
    states = dict(Delivery.objects.filter(kind="follow_up").values_list("pk", "state"))
    assert states == {steps[0].pk: "sent", steps[1].pk: "cancelled"}
    sending.send_claimed([steps[1].pk])
    assert len(mail.outbox) == 1
