"""CSAT by email after a solve: signed, single-use links; scores on the conversation, the
customer's health and the agent's figures; low scores open a task."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from kefu.care import tokens
from kefu.care.models import CareTask, Delivery, Health, Survey
from kefu.care.surveys import figures_for
from kefu.conversations import actions
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)  # events go out on commit


def solve(customer, agent, team):
    conversation = actions.open_conversation(
        customer=customer, channel="email", subject="Broken kettle", body_text="help", team=team
    )
    actions.assign(conversation, actor=agent, assignee=agent, team=team)
    actions.set_status(conversation, actor=agent, status="solved")
    return conversation


def survey_path(message) -> str:
    url = re.search(r"(http\S+/care/s/\S+?/)\?score=1", message.body).group(1)
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_solving_sends_a_csat_email_whose_answer_counts_for_the_agent(agent_x, team_x):
    customer = CustomerFactory(name="Li Lei")
    conversation = solve(customer, agent_x, team_x)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [f"customer{customer.pk}@example.com"]
    assert "List-Unsubscribe" in message.extra_headers
    path = survey_path(message)
    client = Client()
    assert client.get(path + "?score=4").status_code == 200
    response = client.post(path, {"score": "4", "comment": "quick, thanks"})
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.satisfaction == 4
    survey = Survey.objects.get()
    assert survey.agent == agent_x and survey.comment == "quick, thanks"
    figures = figures_for(agent_x)
    assert figures["count"] == 1 and figures["average"] == 4 and figures["by_email"] == 1
    # Single use: a second answer (or a replay) is refused and changes nothing.
    again = client.post(path, {"score": "1"})
    assert again.status_code == 410
    conversation.refresh_from_db()
    assert conversation.satisfaction == 4
    # The agent's profile shows it.
    agent_client = Client()
    agent_client.force_login(agent_x)
    page = agent_client.get("/me/").content.decode()
    assert "care-figures" in page and "4.0" in page


def test_survey_links_cannot_be_forged_or_swapped(agent_x, team_x):
    customer = CustomerFactory()
    solve(customer, agent_x, team_x)
    survey = Survey.objects.get()
    client = Client()
    good = tokens.make(tokens.SURVEY, survey.pk)
    pk, signature = good.split(":", 1)
    assert client.get(f"/care/s/{int(pk) + 1}:{signature}/").status_code == 404
    assert client.get(f"/care/s/{pk}:{signature[:-2]}xx/").status_code == 404
    # An unsubscribe token for the same id is not a survey token.
    assert client.get(f"/care/s/{tokens.make(tokens.UNSUBSCRIBE, survey.pk)}/").status_code == 404
    assert client.get(f"/care/s/{good}/").status_code == 200


def test_low_score_opens_a_task_for_the_owner_and_raises_churn_risk(agent_x, agent_y, team_x):
    customer = CustomerFactory(owner=agent_y)
    solve(customer, agent_x, team_x)
    path = survey_path(mail.outbox[0])
    Client().post(path, {"score": "1", "comment": "still broken"})
    task = CareTask.objects.get()
    assert task.assignee == agent_y and task.customer == customer
    assert Health.objects.get(customer=customer).churn_risk >= 30


def test_throttled_chat_rated_and_no_consent_get_no_survey(agent_x, team_x, settings):
    settings.KEFU_CARE_SURVEY_EVERY_DAYS = 30
    customer = CustomerFactory()
    solve(customer, agent_x, team_x)
    solve(customer, agent_x, team_x)  # within 30 days: no second survey
    assert Delivery.objects.filter(customer=customer).count() == 1
    quiet = CustomerFactory(consent_email=False)
    solve(quiet, agent_x, team_x)
    assert not Delivery.objects.filter(customer=quiet).exists()
    rated = CustomerFactory()
    conversation = actions.open_conversation(
        customer=rated, channel="chat", subject="c", team=team_x
    )
    actions.rate(conversation, score=5, source="chat")
    actions.set_status(conversation, actor=agent_x, status="solved")
    assert not Delivery.objects.filter(customer=rated).exists()


def test_invalid_score_is_refused(agent_x, team_x):
    solve(CustomerFactory(), agent_x, team_x)
    path = survey_path(mail.outbox[0])
    assert Client().post(path, {"score": "9"}).status_code == 400
    assert Survey.objects.get().answered_at is None


def test_follow_up_is_cancelled_when_the_customer_writes(agent_x, team_x):
    from kefu.care.models import FollowUpRule
    from tests.care.conftest import make_template

    FollowUpRule.objects.create(name="holding up?", days=7, template=make_template())
    customer = CustomerFactory()
    conversation = solve(customer, agent_x, team_x)
    follow_up = Delivery.objects.get(kind="follow_up")
    assert follow_up.state == "pending" and follow_up.due_at is not None
    actions.receive_message(conversation, body_text="it broke again", channel="email")
    follow_up.refresh_from_db()
    assert follow_up.state == "cancelled"
