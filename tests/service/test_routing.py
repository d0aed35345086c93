"""Routing rules: conditions (channel, mailbox, keywords in Chinese and English, language,
tier, organization, tags), ordered first-match or continue, on new and reopened
conversations, through the conversation actions with the rule named on the timeline."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from kefu.conversations import actions
from kefu.conversations.models import Channel, Conversation, Kind, Priority, Status
from kefu.customers.models import Tier, TimelineEntry
from kefu.service.models import Assign, AutomationRule, RoutingRule, Trigger
from kefu.service.rules import Compiled, facts_for, fold, keyword_pattern
from tests.factories import CustomerFactory, OrganizationFactory, TeamFactory, make_agent


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def key_accounts(db):
    return TeamFactory(name="Key accounts", slug="key-accounts")


@pytest.fixture
def aftersales(db):
    return TeamFactory(name="After-sales", slug="aftersales")


def open_(commit, customer=None, **kw):
    kw.setdefault("channel", Channel.WEB)
    kw.setdefault("subject", "Hello")
    kw.setdefault("body_text", "A question")
    with commit():
        conversation = actions.open_conversation(customer=customer or CustomerFactory(), **kw)
    return Conversation.objects.get(pk=conversation.pk)


def rule(**kw) -> RoutingRule:
    kw.setdefault("name", "R")
    made = RoutingRule(**kw)
    made.full_clean()
    made.save()
    return made


def test_fold_and_keywords_match_chinese_in_either_script_and_english_words():
    assert fold("ＶＩＰ 退貨") == "vip 退货"
    assert keyword_pattern("退货").search(fold("我要退貨，謝謝"))
    assert keyword_pattern("refund").search(fold("Please REFUND me."))
    assert not keyword_pattern("vip").search(fold("vipassana retreat"))
    assert keyword_pattern("X1").search(fold("扫地机器人X1漏水"))  # Latin inside Chinese text


def test_a_vip_complaint_goes_to_key_accounts_and_the_timeline_names_the_rule(commit, key_accounts):
    manager = make_agent("chen.wei", key_accounts)
    rule(
        name="VIP complaints",
        tiers="vip,key_account",
        kinds="complaint",
        set_team=key_accounts,
        set_priority=Priority.HIGH,
        add_tags="vip, 投诉",
        assign=Assign.ACCOUNT_MANAGER,
    )
    vip = CustomerFactory(tier=Tier.VIP, owner=manager)
    conversation = open_(commit, vip, kind=Kind.COMPLAINT)
    assert conversation.team == key_accounts
    assert conversation.assignee == manager
    assert conversation.priority == Priority.HIGH
    assert set(conversation.tags.values_list("name", flat=True)) == {"vip", "投诉"}
    steps = TimelineEntry.objects.filter(conversation=conversation).exclude(
        kind="conversation_opened"
    )
    assert {e.kind for e in steps} == {"priority_changed", "tags_changed", "assigned"}
    assert all(e.data["by_rule"] == "VIP complaints" and e.actor is None for e in steps)
    # A normal customer's complaint is left alone.
    other = open_(commit, kind=Kind.COMPLAINT)
    assert other.team is None and other.priority == Priority.NORMAL


def test_the_timeline_shows_the_rule_as_the_actor(commit, key_accounts, client, admin_user):
    rule(name="To key accounts", set_team=key_accounts)
    conversation = open_(commit)
    client.force_login(admin_user)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "“To key accounts”" in page


def test_first_match_stops_unless_the_rule_says_continue(commit, key_accounts, aftersales):
    first = rule(name="first", position=1, keywords="漏水", add_tags="leak", stop=True)
    rule(name="second", position=2, keywords="漏水", set_team=aftersales)
    conversation = open_(commit, body_text="水箱漏水了")
    assert conversation.team is None
    assert list(conversation.tags.values_list("name", flat=True)) == ["leak"]
    first.stop = False
    first.save()
    conversation = open_(commit, body_text="水箱漏水了")
    assert conversation.team == aftersales


@pytest.mark.parametrize(
    ("conditions", "opened", "matches"),
    [
        ({"channels": "email"}, {"channel": Channel.EMAIL}, True),
        ({"channels": "email"}, {"channel": Channel.WEB}, False),
        ({"languages": "zh-hant"}, {"language": "zh-hant"}, True),
        ({"languages": "zh-hant"}, {"language": "en"}, False),
        ({"keywords": "refund, 退款"}, {"subject": "Refund please"}, True),
        ({"keywords": "refund, 退款"}, {"body_text": "我要退款"}, True),
        ({"keywords": "refund, 退款"}, {"body_text": "refunded already?"}, False),
        (
            {"mailboxes": "vip@hexi.example"},
            {"channel": Channel.EMAIL, "metadata": {"to": ["VIP@hexi.example"]}},
            True,
        ),
        (
            {"mailboxes": "vip@hexi.example"},
            {"channel": Channel.EMAIL, "metadata": {"to": ["help@hexi.example"]}},
            False,
        ),
    ],
)
def test_conditions(commit, aftersales, conditions, opened, matches):
    rule(name="c", set_team=aftersales, **conditions)
    conversation = open_(commit, **opened)
    assert (conversation.team == aftersales) is matches


def test_organization_and_tag_conditions(commit, aftersales):
    org = OrganizationFactory(name="华联超市")
    made = rule(name="org", set_team=aftersales, tags="x1")
    made.organizations.add(org)
    member = CustomerFactory(organization=org)
    conversation = open_(commit, member)
    assert conversation.team is None  # the tag is missing
    facts = facts_for(Conversation.objects.select_related("customer").get(pk=conversation.pk))
    checks = {c.condition: (c.ok, c.detail) for c in Compiled.of(made).explain(facts)}
    assert checks == {"tags": (False, "[] / x1"), "organization": (True, "华联超市 / 华联超市")}
    with commit():
        actions.tag(conversation, actor=None, add=["X1"])
    facts = facts_for(Conversation.objects.select_related("customer").get(pk=conversation.pk))
    assert Compiled.of(made).matches(facts)


def test_reopened_conversations_are_routed_again(commit, aftersales):
    rule(name="reopen", occasion=RoutingRule.Occasion.REOPENED, set_team=aftersales)
    conversation = open_(commit)
    assert conversation.team is None
    agent = make_agent("li.na", aftersales)
    with commit():
        actions.send_reply(conversation, agent=agent, body_text="done", status=Status.SOLVED)
    with commit():
        actions.receive_message(conversation, body_text="it leaks again")
    assert Conversation.objects.get(pk=conversation.pk).team == aftersales


def test_a_rule_that_names_an_agent_outside_its_team_is_refused(key_accounts, aftersales):
    outsider = make_agent("tom", aftersales)
    with pytest.raises(ValidationError) as error:
        rule(set_team=key_accounts, assign=Assign.AGENT, assign_agent=outsider)
    assert "assign_agent" in error.value.message_dict


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "__all__"),  # no action
        ({"add_tags": "x", "mailboxes": "not-an-address"}, "mailboxes"),
        ({"add_tags": "x", "channels": "fax"}, "channels"),
        ({"add_tags": "x", "tiers": "gold"}, "tiers"),
        ({"add_tags": "x" * 70}, "add_tags"),
        ({"assign": Assign.AGENT}, "assign_agent"),
        ({"add_tags": "x", "keywords": "k" * 101}, "keywords"),
    ],
)
def test_rules_are_validated_on_save(db, fields, field):
    with pytest.raises(ValidationError) as error:
        rule(**fields)
    assert field in error.value.message_dict


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"trigger": Trigger.IDLE, "note": "n"}, "idle_hours"),
        ({"trigger": Trigger.CREATED, "note": "n", "idle_hours": 3}, "idle_hours"),
        ({"trigger": Trigger.CREATED, "webhook_url": "http://127.0.0.1:9/x"}, "webhook_url"),
        ({"trigger": Trigger.CREATED, "webhook_url": "http://10.1.2.3/x"}, "webhook_url"),
        ({"trigger": Trigger.CREATED, "webhook_url": "http://localhost/x"}, "webhook_url"),
        ({"trigger": Trigger.CREATED, "webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"trigger": Trigger.CREATED, "note": "n", "webhook_secret": "s"}, "webhook_secret"),
    ],
)
def test_automation_rules_are_validated_on_save(db, fields, field):
    made = AutomationRule(name="A", **fields)
    with pytest.raises(ValidationError) as error:
        made.full_clean()
    assert field in error.value.message_dict
