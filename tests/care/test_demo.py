"""The demo's care story: today's birthday customer gets a greeting with their name and the
preference an agent recorded; the VIP campaign is a draft that reaches consenting VIPs."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from kefu.care import sending
from kefu.care.models import Campaign
from kefu.care.occasions import queue_greetings
from kefu.care.segments import live_count
from kefu.demo import load_demo

pytestmark = pytest.mark.django_db


def test_demo_birthday_greeting_and_draft_campaign():
    load_demo()
    load_demo()  # idempotent
    from datetime import timedelta

    # Later today in Shanghai (after the 9 o'clock greeting hour) or now if already past.
    now = timezone.now()
    local = now.astimezone(timezone.get_default_timezone())
    at = now if local.hour >= 9 else now + timedelta(hours=9 - local.hour)
    if at.astimezone(timezone.get_default_timezone()).date() != local.date():
        at = now
    assert queue_greetings(at) >= 1
    sending.send_due()
    greeting = next(m for m in mail.outbox if "zhangwei1985@qq.com" in m.to)
    assert "张伟" in greeting.subject and "龙井" in greeting.body
    campaign = Campaign.objects.get()
    assert campaign.status == "draft"
    assert live_count(campaign.segment, campaign.purpose)["reachable"] >= 1
