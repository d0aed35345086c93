"""The demo data: loads once, through the actions, into a believable help desk."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from kefu.conversations.models import Conversation, Message, Status
from kefu.customers.models import Customer, Preference, TimelineEntry
from kefu.demo import load_demo
from kefu.staff.models import AgentProfile, Team

pytestmark = pytest.mark.django_db

AGENTS = {"demo", "li.na", "chen.wei", "amy.wong", "tom.baker"}


def _counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "teams": Team.objects.count(),
        "customers": Customer.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "timeline": TimelineEntry.objects.count(),
    }


def test_load_demo_fills_an_empty_database():
    assert load_demo() is True

    assert set(Team.objects.values_list("slug", flat=True)) == {
        "presales",
        "aftersales",
        "key-accounts",
    }
    assert set(AgentProfile.objects.values_list("user__username", flat=True)) == AGENTS
    demo = AgentProfile.objects.get(user__username="demo")
    assert demo.role == AgentProfile.Role.SUPERVISOR and demo.user.is_superuser
    assert demo.teams.count() == 3

    assert Customer.objects.count() >= 12
    zhang = Customer.objects.get(name="张伟")
    assert zhang.user is not None and zhang.user.get_username() == "zhang.wei"
    assert zhang.tier == "vip" and zhang.owner is not None
    assert Preference.objects.filter(customer=zhang, value__contains="喜欢喝茶").exists()

    conversations = Conversation.objects.all()
    assert conversations.count() >= 18
    assert set(conversations.values_list("language", flat=True)) == {"zh-hans", "zh-hant", "en"}
    assert set(conversations.values_list("status", flat=True)) == set(Status.values)
    assert not conversations.filter(messages__isnull=True).exists()
    assert conversations.filter(status=Status.NEW, assignee__isnull=True).count() >= 3
    mine = conversations.filter(
        assignee__username="demo", status__in=["open", "pending", "on_hold"]
    )
    assert mine.count() >= 2
    assert Message.objects.filter(direction=Message.Direction.NOTE).exists()

    # Dated back over about a month, nothing in the future, threads in order.
    now = timezone.now()
    assert conversations.filter(created_at__lt=now - timezone.timedelta(days=20)).exists()
    assert not Message.objects.filter(created_at__gt=now).exists()
    assert not TimelineEntry.objects.filter(created_at__gt=now).exists()
    for conversation in conversations:
        times = list(conversation.messages.values_list("created_at", flat=True))
        assert times == sorted(times)
        assert conversation.created_at <= times[0]
        assert conversation.last_message_at is not None
        assert conversation.last_message_at >= conversation.created_at
        assert conversation.customer.created_at <= conversation.created_at


def test_load_demo_is_idempotent():
    assert load_demo() is True
    before = _counts()
    assert load_demo() is False
    assert _counts() == before


def test_demo_users_can_sign_in(client):
    load_demo()
    for username in [*AGENTS, "zhang.wei"]:
        assert client.login(username=username, password="kefu-demo"), username
        client.logout()


def test_listeners_accept_the_demo_events(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        load_demo()
    assert callbacks


def test_loaddemo_command():
    out = StringIO()
    call_command("loaddemo", stdout=out)
    assert "Loaded the demo" in out.getvalue()
    out = StringIO()
    call_command("loaddemo", stdout=out)
    assert "already loaded" in out.getvalue()
