"""Every service admin page: administrators only; staff without the permission are refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kefu.service.calendars import BusinessCalendar, CalendarDay, WorkingHours
from kefu.service.models import EscalationRule, SlaPolicy
from tests.factories import make_agent

MODELS = ("businesscalendar", "calendarday", "slapolicy", "escalationrule", "cannedreply")


@pytest.fixture
def objects(china_calendar):
    policy = SlaPolicy.objects.create(name="P", calendar=china_calendar, first_response_minutes=5)
    day = CalendarDay.objects.create(calendar=china_calendar, date="2027-01-01", kind="holiday")
    rule = EscalationRule.objects.create(name="R", policy=policy)
    return {
        "businesscalendar": china_calendar,
        "calendarday": day,
        "slapolicy": policy,
        "escalationrule": rule,
    }


def pages(objects):
    for model in MODELS:
        yield reverse(f"admin:service_{model}_changelist")
        yield reverse(f"admin:service_{model}_add")
        if model in objects:
            yield reverse(f"admin:service_{model}_change", args=[objects[model].pk])
            yield reverse(f"admin:service_{model}_delete", args=[objects[model].pk])


def test_admins_see_every_page(client, admin_user, objects):
    client.force_login(admin_user)
    for url in pages(objects):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["anonymous", "agent", "staff_without_permission"])
def test_others_are_kept_out(client, objects, team_x, who):
    if who == "agent":
        client.force_login(make_agent("plain", team_x))
    elif who == "staff_without_permission":
        client.force_login(make_agent("clerk", team_x, is_staff=True))
    for url in pages(objects):
        status = client.get(url).status_code
        assert status in (302, 403), (url, status)
        if status == 302:
            assert "/login/" in client.get(url)["Location"], url


def test_a_calendar_is_edited_with_its_hours_and_days(client, admin_user, china_calendar):
    client.force_login(admin_user)
    url = reverse("admin:service_businesscalendar_change", args=[china_calendar.pk])
    page = client.get(url).content.decode()
    assert "hours-TOTAL_FORMS" in page and "days-TOTAL_FORMS" in page
    assert WorkingHours.objects.filter(calendar=china_calendar).count() == 10
    assert BusinessCalendar.objects.count() == 1


def test_a_policy_with_an_unknown_code_is_refused(client, admin_user, china_calendar):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:service_slapolicy_add"),
        {"name": "Bad", "position": 1, "active": "on", "tiers": "gold", "warn_percent": 80},
    )
    assert response.status_code == 200
    assert not SlaPolicy.objects.filter(name="Bad").exists()
