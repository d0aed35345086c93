"""Occasions across time zones and leap days; personalisation with missing fields."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core import mail

from kefu.care import sending
from kefu.care.models import Delivery, Occasion
from kefu.care.occasions import anniversary, is_due, queue_greetings
from kefu.care.rendering import context_for, render_source
from kefu.customers.actions import set_preference
from tests.care.conftest import make_template
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_leap_day_birthdays_fall_on_28_february_in_common_years():
    leap = date(1992, 2, 29)
    assert anniversary(leap, 2026) == date(2026, 2, 28)
    assert anniversary(leap, 2028) == date(2028, 2, 29)
    assert anniversary(date(1990, 3, 1), 2026) == date(2026, 3, 1)


def test_birthday_is_found_in_the_customers_own_time_zone():
    template = make_template()
    occasion = Occasion.objects.create(kind="birthday", template=template, send_hour=9, active=True)
    shanghai = CustomerFactory(birthday=date(1990, 6, 1), timezone="Asia/Shanghai")
    los_angeles = CustomerFactory(birthday=date(1990, 6, 1), timezone="America/Los_Angeles")
    # 2026-06-01 02:00 UTC: 10:00 on 1 June in Shanghai, 19:00 on 31 May in Los Angeles.
    now = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    assert is_due(occasion, shanghai, now)
    assert not is_due(occasion, los_angeles, now)
    # 2026-06-01 17:00 UTC: 10:00 on 1 June in Los Angeles, 2 June already in Shanghai.
    later = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    assert is_due(occasion, los_angeles, later)
    assert not is_due(occasion, shanghai, later)
    # Before the local hour: not yet.
    assert not is_due(occasion, shanghai, datetime(2026, 5, 31, 23, 0, tzinfo=UTC))


def test_leap_day_customer_is_greeted_once_on_28_february():
    Occasion.objects.create(kind="birthday", template=make_template(), send_hour=9, active=True)
    customer = CustomerFactory(
        birthday=date(1992, 2, 29), timezone="Asia/Shanghai", consent_marketing=True
    )
    now = datetime(2026, 2, 28, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    assert queue_greetings(now) == 1
    assert queue_greetings(now) == 0  # idempotent: one per year
    assert Delivery.objects.get().key == f"greeting:birthday:{customer.pk}:2026"
    assert queue_greetings(datetime(2026, 3, 1, 3, 0, tzinfo=UTC)) == 0


def test_greeting_uses_name_and_a_recorded_preference(agent_x):
    template = make_template(
        "birthday",
        en=(
            "Happy birthday, {{ name }}!",
            "Dear {{ name|default:'friend' }}, a pot of {{ preference|default:'something nice' }} "
            "is on us.{% if age %} {{ age }} years!{% endif %}",
        ),
    )
    Occasion.objects.create(kind="birthday", template=template, send_hour=0, active=True)
    customer = CustomerFactory(
        name="Wang Fang",
        language="en",
        birthday=date(1990, 6, 1),
        timezone="Asia/Shanghai",
        consent_marketing=True,
    )
    set_preference(customer, actor=agent_x, value="Longjing tea", kind="personal")
    assert queue_greetings(datetime(2026, 6, 1, 2, 0, tzinfo=UTC)) == 1
    sending.send_due()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Happy birthday, Wang Fang!"
    assert "a pot of Longjing tea is on us" in mail.outbox[0].body


def test_missing_fields_render_empty_or_fallback_never_crash():
    customer = CustomerFactory(name="", birthday=None)
    values = context_for(customer, [])
    assert values["age"] is None and values["preference"] == "" and values["name"] == ""
    text = render_source(
        "Hi {{ name|default:'there' }}, {{ nothing.at.all }}{{ preference }}."
        "{% if age %}x{% endif %}",
        values,
        html=False,
    )
    assert text == "Hi there, ."
    assert render_source("{% load static %}x", values, html=False) == ""  # not allowed: ""
    assert render_source("{% if %}", values, html=False) == ""  # broken: ""


def test_html_is_escaped_text_is_not():
    values = {"name": "<b>Tom & Jerry</b>"}
    assert render_source("{{ name }}", values, html=True) == "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"
    assert render_source("{{ name }}", values, html=False) == "<b>Tom & Jerry</b>"


def test_unknown_birth_year_gives_no_age():
    customer = CustomerFactory(birthday=date(1904, 2, 29))
    assert context_for(customer, [])["age"] is None
    customer = CustomerFactory(birthday=date(2000, 2, 29))
    values = context_for(customer, [], now=datetime(2026, 2, 28, 12, tzinfo=UTC))
    assert values["age"] == 25  # 29 February not reached yet in 2026


def test_template_version_per_language_and_tier():
    from kefu.care.rendering import pick_version

    template = make_template(
        "multi", en=("Hi", "en"), zh_hans=("您好", "简"), zh_hant=("您好", "繁")
    )
    versions = list(template.versions.all())
    assert pick_version(versions, "zh-hant", "normal").subject == "您好"
    assert pick_version(versions, "zh-hant", "normal").body_text == "繁"
    assert pick_version(versions, "fr", "normal").body_text == "简"  # the site's language
