"""Admin pages of routing, assignment, automation and webhook calls: supervisors and
administrators only (model permissions alone are not enough); rules validated on save."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from kefu.service.models import (
    AssignmentPolicy,
    AutomationRule,
    RoutingRule,
    Trigger,
    WebhookCall,
)
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, make_agent, make_conversation

MODELS = ("routingrule", "automationrule", "assignmentpolicy", "webhookcall")


@pytest.fixture
def objects(team_x):
    conversation = make_conversation(CustomerFactory())
    rule = AutomationRule.objects.create(name="A", trigger=Trigger.CREATED, note="n")
    return {
        "routingrule": RoutingRule.objects.create(name="R", set_team=team_x),
        "automationrule": rule,
        "assignmentpolicy": AssignmentPolicy.objects.create(team=team_x, strategy="round_robin"),
        "webhookcall": WebhookCall.objects.create(
            rule=rule, rule_name="A", conversation=conversation, url="https://example.com/h"
        ),
    }


def pages(objects):
    for model in MODELS:
        yield reverse(f"admin:service_{model}_changelist")
        if model != "webhookcall":
            yield reverse(f"admin:service_{model}_add")
        yield reverse(f"admin:service_{model}_change", args=[objects[model].pk])
        yield reverse(f"admin:service_{model}_delete", args=[objects[model].pk])


def with_service_permissions(user):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="service"))
    return user


def test_admins_and_supervisors_see_every_page(client, admin_user, objects, team_x):
    supervisor = with_service_permissions(
        make_agent("sup", team_x, role=AgentProfile.Role.SUPERVISOR, is_staff=True)
    )
    for user in (admin_user, supervisor):
        client.force_login(user)
        for url in pages(objects):
            assert client.get(url).status_code == 200, (user, url)


@pytest.mark.parametrize("who", ["anonymous", "agent", "staff_agent_with_permissions"])
def test_others_are_kept_out(client, objects, team_x, who):
    if who == "agent":
        client.force_login(make_agent("plain", team_x))
    elif who == "staff_agent_with_permissions":
        client.force_login(with_service_permissions(make_agent("clerk", team_x, is_staff=True)))
    for url in pages(objects):
        status = client.get(url).status_code
        assert status in (302, 403), (url, status)


def form(**fields):
    data = {
        "name": "VIP",
        "position": 10,
        "active": "on",
        "stop": "on",
        "occasion": "both",
        "assign": "",
    }
    data.update(fields)
    return data


def test_an_invalid_rule_is_refused_with_its_reason(client, admin_user, team_x):
    client.force_login(admin_user)
    url = reverse("admin:service_routingrule_add")
    response = client.post(url, form(tiers="gold"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "gold" in page and not RoutingRule.objects.exists()
    response = client.post(url, form(tiers="vip"))  # no action
    assert response.status_code == 200 and not RoutingRule.objects.exists()
    response = client.post(url, form(tiers="vip", kinds="complaint", set_team=team_x.pk))
    assert response.status_code == 302
    assert RoutingRule.objects.get().set_team == team_x


def test_webhook_calls_are_read_only(client, admin_user, objects):
    client.force_login(admin_user)
    url = reverse("admin:service_webhookcall_change", args=[objects["webhookcall"].pk])
    client.post(url, {"url": "http://evil.example/"})
    objects["webhookcall"].refresh_from_db()
    assert objects["webhookcall"].url == "https://example.com/h"
