"""Automation rules: triggers (created, updated, customer replied, idle, SLA), actions through
the conversation actions, the loop guard, and the test mode (page and command)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from kefu.conversations import actions
from kefu.conversations.models import Channel, Conversation, Message, Priority, Status
from kefu.core.events import SlaBreached
from kefu.customers.models import Tier, TimelineEntry
from kefu.service.automation import MAX_CHAIN, explain, idle_sweep
from kefu.service.models import AutomationRule, CannedReply, RoutingRule, Trigger
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def auto(**kw) -> AutomationRule:
    kw.setdefault("name", "A")
    kw.setdefault("stop", False)
    made = AutomationRule(**kw)
    made.full_clean()
    made.save()
    return made


def open_(commit, customer=None, **kw):
    kw.setdefault("channel", Channel.WEB)
    kw.setdefault("subject", "Hello")
    kw.setdefault("body_text", "A question")
    with commit():
        conversation = actions.open_conversation(customer=customer or CustomerFactory(), **kw)
    return Conversation.objects.get(pk=conversation.pk)


def fresh(conversation):
    return Conversation.objects.get(pk=conversation.pk)


def kinds(conversation):
    return list(
        TimelineEntry.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("kind", flat=True)
    )


def test_created_rules_act_after_routing_and_name_themselves(commit, team_x):
    RoutingRule.objects.create(name="route", keywords="发票", set_team=team_x)
    auto(name="invoice note", trigger=Trigger.CREATED, note="check the tax id")
    rule = AutomationRule.objects.get()
    rule.teams.add(team_x)  # only once routed to team X
    conversation = open_(commit, body_text="请开发票")
    note = conversation.messages.get(direction=Message.Direction.NOTE)
    assert note.body_text == "check the tax id" and note.author_agent is None
    entry = TimelineEntry.objects.get(conversation=conversation, kind="note_added")
    assert entry.data["by_rule"] == "invoice note"
    assert not open_(commit, body_text="hello").messages.filter(direction="note").exists()


def test_customer_replied_is_not_the_opening_message(commit):
    auto(trigger=Trigger.CUSTOMER_REPLIED, add_tags="replied")
    conversation = open_(commit)
    assert not conversation.tags.exists()
    with commit():
        actions.receive_message(conversation, body_text="any news?")
    assert list(conversation.tags.values_list("name", flat=True)) == ["replied"]


def test_updated_rules_see_changes_by_people(commit, agent_x, team_x):
    auto(trigger=Trigger.UPDATED, priorities="urgent", set_status=Status.OPEN, add_tags="hot")
    conversation = open_(commit, team=team_x)
    with commit():
        actions.set_priority(conversation, actor=agent_x, priority=Priority.URGENT)
    conversation = fresh(conversation)
    assert conversation.status == Status.OPEN
    assert list(conversation.tags.values_list("name", flat=True)) == ["hot"]


def test_a_rule_never_triggers_itself(commit):
    """Adding a tag is an update; the rule acts once per chain, not forever."""
    auto(trigger=Trigger.UPDATED, add_tags="seen", remove_tags="")
    auto(name="ping", trigger=Trigger.UPDATED, tags="seen", set_priority=Priority.HIGH)
    conversation = open_(commit)
    with commit():
        actions.set_status(conversation, actor=None, status=Status.OPEN)
    conversation = fresh(conversation)
    assert conversation.priority == Priority.HIGH
    assert kinds(conversation).count("tags_changed") == 1


def test_rules_that_undo_each_other_stop_within_the_chain_bound(commit):
    auto(name="up", trigger=Trigger.UPDATED, priorities="normal", set_priority="high")
    auto(name="down", trigger=Trigger.UPDATED, priorities="high", set_priority="normal")
    conversation = open_(commit)
    with commit():
        actions.tag(conversation, actor=None, add=["start"])
    steps = kinds(conversation)
    # up, then down, then each rule has acted in this chain: it ends.
    assert steps.count("priority_changed") == 2
    assert fresh(conversation).priority == Priority.NORMAL


def test_a_long_chain_is_cut(commit):
    """Many rules each reacting to the previous one's change: at most MAX_CHAIN steps."""
    levels = ["low", "normal", "high", "urgent"]
    for i in range(MAX_CHAIN + 4):
        auto(
            name=f"r{i}",
            position=i,
            trigger=Trigger.UPDATED,
            priorities=levels[i % 4],
            set_priority=levels[(i + 1) % 4],
            stop=True,
        )
    conversation = open_(commit)
    with commit():
        actions.set_priority(conversation, actor=None, priority="low")
    steps = kinds(conversation)
    assert steps.count("priority_changed") == 1 + MAX_CHAIN  # the person's, then the rules'
    assert steps[-1] == "rule_chain_stopped"
    stopped = TimelineEntry.objects.filter(conversation=conversation).latest("pk")
    assert stopped.data["steps"] == MAX_CHAIN


def test_template_reply_is_sent_but_the_first_response_is_still_owed(commit, client, admin_user):
    template = CannedReply.objects.create(
        shortcut="got-it", title="Got it", body="{{customer.name}}，您好：我们已收到。"
    )
    auto(trigger=Trigger.CREATED, reply_template=template)
    conversation = open_(commit, CustomerFactory(name="王芳"))
    reply = conversation.messages.get(direction=Message.Direction.OUT)
    assert reply.body_text == "王芳，您好：我们已收到。"
    assert reply.metadata == {"automatic": True} and reply.author_agent is None
    conversation = fresh(conversation)
    assert conversation.first_responded_at is None and conversation.assignee is None
    assert conversation.status == Status.NEW
    AgentProfile.objects.filter(user=admin_user).update(language="en")
    client.force_login(admin_user)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "Automatic reply" in page


def test_sla_breach_trigger(commit, team_x):
    lead = make_agent("lead", team_x, role=AgentProfile.Role.SUPERVISOR)
    auto(trigger=Trigger.SLA_BREACHED, assign="agent", assign_agent=lead, set_team=team_x)
    conversation = open_(commit)
    with commit():
        from kefu.core.events import emit

        emit(
            SlaBreached(
                actor_id=None,
                conversation_id=conversation.pk,
                team_id=None,
                assignee_id=None,
                target="first_response",
                due_at=timezone.now(),
            )
        )
    conversation = fresh(conversation)
    assert conversation.assignee == lead and conversation.team == team_x


def test_idle_fires_once_per_quiet_spell(commit):
    rule = auto(trigger=Trigger.IDLE, idle_hours=48, statuses="pending", add_tags="chase")
    AutomationRule.objects.filter(pk=rule.pk).update(created_at=timezone.now() - timedelta(days=10))
    waiting = open_(commit)
    with commit():
        actions.set_status(waiting, actor=None, status=Status.PENDING)
    busy = open_(commit)
    old = timezone.now() - timedelta(hours=50)
    Conversation.objects.filter(pk__in=[waiting.pk, busy.pk]).update(last_message_at=old)
    with commit():
        assert idle_sweep() == 1
    assert list(waiting.tags.values_list("name", flat=True)) == ["chase"]
    assert not busy.tags.exists()  # not pending
    with commit():
        assert idle_sweep() == 0  # already looked at
    # The customer writes, the agent asks again, and it goes quiet again: once more.
    with commit():
        actions.receive_message(waiting, body_text="hm")
        actions.set_status(waiting, actor=None, status=Status.PENDING)
        actions.tag(waiting, actor=None, remove=["chase"])
    later = timezone.now() + timedelta(hours=49)
    with commit():
        assert idle_sweep(later) == 1


def test_explain_shows_which_rules_fire_and_why(commit, team_x):
    RoutingRule.objects.create(name="vip", position=1, tiers="vip", set_team=team_x)
    RoutingRule.objects.create(name="also", position=2, set_priority="high")
    auto(name="complaints", trigger=Trigger.CREATED, kinds="complaint", note="n")
    conversation = open_(commit, CustomerFactory(tier=Tier.VIP))
    groups = explain(conversation)
    routing = groups["routing:new"]
    assert [(r.rule.name, r.matched, r.fires) for r in routing] == [
        ("vip", True, True),
        ("also", True, False),  # the first one stops here
    ]
    assert routing[0].checks[0].condition == "tier" and routing[0].checks[0].ok
    created = groups[Trigger.CREATED]
    assert [(r.rule.name, r.fires) for r in created] == [("complaints", False)]
    assert [c.ok for c in created[0].checks] == [False]


def test_test_mode_page_for_supervisors_only(commit, client, team_x, agent_x):
    auto(name="complaints", trigger=Trigger.CREATED, kinds="complaint", note="n")
    conversation = open_(commit, team=team_x)
    url = reverse("rules_test") + f"?c=%23{conversation.pk}"
    client.force_login(agent_x)
    assert client.get(url).status_code == 403
    supervisor = make_agent("sup", team_x, role=AgentProfile.Role.SUPERVISOR)
    AgentProfile.objects.filter(user=supervisor).update(language="en")
    client.force_login(supervisor)
    page = client.get(url).content.decode()
    assert "complaints" in page and "kind: <code>question / complaint</code>" in page
    assert (
        "No such conversation" in client.get(reverse("rules_test") + "?c=999999").content.decode()
    )
    assert client.get(reverse("rules_test") + "?c=<script>").status_code == 200


def test_rules_command(commit):
    auto(name="complaints", trigger=Trigger.CREATED, kinds="complaint", note="n")
    conversation = open_(commit)
    out = io.StringIO()
    call_command("rules", f"#{conversation.pk}", stdout=out)
    assert "complaints: no" in out.getvalue() and "NOT kind: question / complaint" in out.getvalue()
