"""Automation rules: if an event happens to a conversation that meets the conditions, act.

Triggers: created (run by routing.py once the routing rules have acted), updated (status,
priority, kind, tags, team or assignee changed; an agent replied or noted), customer replied,
idle for N hours (a periodic job), SLA near breach and SLA breached. Rules run in order;
"stop here" ends the pass.

A rule can never set itself off in a loop: its actions carry the chain of rule steps that led
to them (``kefu.core.events.acting``), a rule acts at most once on a conversation per chain,
and a chain is at most :data:`MAX_CHAIN` steps long.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from kefu.conversations.models import OPEN_STATUSES, Conversation, Message
from kefu.core.events import (
    ConversationAssigned,
    KindChanged,
    MessageAdded,
    PriorityChanged,
    SlaBreached,
    SlaWarning,
    StatusChanged,
    TagsChanged,
    acting,
    current_cause,
    listen,
)
from kefu.core.scheduler import every
from kefu.customers.timeline import record
from kefu.service import rule_actions
from kefu.service.models import AutomationRule, RoutingRule, Trigger
from kefu.service.rules import Check, Compiled, Facts, automation_rules, facts_for, routing_rules

logger = logging.getLogger(__name__)

MAX_CHAIN = 8  # rule steps in one chain of events
IDLE_BATCH = 500


def step_of(rule: AutomationRule, conversation_id: int) -> str:
    return f"automation:{rule.pk}:{conversation_id}"


def run(trigger: str, conversation_id: int, *, only: AutomationRule | None = None) -> list[str]:
    """Run the rules of ``trigger`` on the conversation; the names of those that acted."""
    rules = automation_rules(trigger)
    if only is not None:
        rules = [c for c in rules if c.rule.pk == only.pk]
    if not rules:
        return []  # nothing configured for this event: not one query
    chain = current_cause().chain
    conversation = rule_actions.fresh(conversation_id)
    if conversation is None:
        return []
    if len(chain) >= MAX_CHAIN:
        logger.warning("automation chain on #%s stopped after %s", conversation_id, chain)
        record(
            conversation.customer,
            "rule_chain_stopped",
            conversation=conversation,
            steps=len(chain),
            trigger=trigger,
        )
        return []
    facts = facts_for(conversation)
    acted = []
    with ExitStack() as pass_chain:  # rules acting in one pass are one chain
        for compiled in rules:
            rule: AutomationRule = compiled.rule
            step = step_of(rule, conversation_id)
            if step in chain or not compiled.matches(facts):
                continue
            rule_actions.apply(rule, conversation, step=step, trigger=trigger)
            pass_chain.enter_context(acting("", step))
            acted.append(rule.name)
            if rule.stop:
                break
            refreshed = rule_actions.fresh(conversation_id)
            if refreshed is None:
                break
            conversation, facts = refreshed, facts_for(refreshed)
    return acted


@listen(StatusChanged, PriorityChanged, KindChanged, TagsChanged, ConversationAssigned)
def on_updated(event: Any) -> None:
    run(Trigger.UPDATED, event.conversation_id)


@listen(MessageAdded)
def on_message(event: MessageAdded) -> None:
    if event.direction != "in":
        if not event.automatic:  # an agent replied or noted; kefu's own replies are no news
            run(Trigger.UPDATED, event.conversation_id)
        return
    if not automation_rules(Trigger.CUSTOMER_REPLIED):
        return
    opening = (
        Message.objects.filter(conversation_id=event.conversation_id)
        .order_by("id")
        .values_list("pk", flat=True)
        .first()
    )
    if opening != event.message_id:  # the first message is "created", not a reply
        run(Trigger.CUSTOMER_REPLIED, event.conversation_id)


@listen(SlaWarning)
def on_sla_warning(event: SlaWarning) -> None:
    run(Trigger.SLA_WARNING, event.conversation_id)


@listen(SlaBreached)
def on_sla_breached(event: SlaBreached) -> None:
    run(Trigger.SLA_BREACHED, event.conversation_id)


# Idle for N hours ---------------------------------------------------------------------------


def idle_sweep(now: datetime | None = None) -> int:
    """Fire each idle rule on the open conversations whose last message became N hours old
    since the rule last looked: a range of ``last_message_at`` read through its index, so
    each quiet spell of a conversation fires a rule once."""
    now = now or timezone.now()
    fired = 0
    for compiled in automation_rules(Trigger.IDLE):
        rule: AutomationRule = compiled.rule
        if not rule.idle_hours:
            continue
        cutoff = now - timedelta(hours=rule.idle_hours)
        start = rule.idle_checked_until or (rule.created_at - timedelta(hours=rule.idle_hours))
        if start >= cutoff:
            continue
        after: tuple[Any, int] | None = None
        while True:
            batch = Conversation.objects.filter(
                last_message_at__gt=start,
                last_message_at__lte=cutoff,
                status__in=OPEN_STATUSES,
            )
            if after is not None:
                batch = batch.filter(
                    Q(last_message_at__gt=after[0]) | Q(last_message_at=after[0], pk__gt=after[1])
                )
            rows = list(
                batch.order_by("last_message_at", "pk").values_list("pk", "last_message_at")[
                    :IDLE_BATCH
                ]
            )
            for pk, _when in rows:
                fired += len(run(Trigger.IDLE, pk, only=rule))
            if len(rows) < IDLE_BATCH:
                break
            after = (rows[-1][1], rows[-1][0])
        AutomationRule.objects.filter(pk=rule.pk).update(idle_checked_until=cutoff)
        rule.idle_checked_until = cutoff
    return fired


@every(300, name="automation-idle")
@task()
def automation_idle_sweep() -> int:
    return idle_sweep()


# Test mode ----------------------------------------------------------------------------------


@dataclass
class Report:
    """What one rule would do to a conversation, and why."""

    rule: Any
    kind: str  # "routing" or "automation"
    checks: list[Check]
    matched: bool
    fires: bool  # matched and reached (no earlier matching rule said "stop here")
    actions: list[str]
    notes: list[str] = field(default_factory=list)


def explain(conversation: Conversation) -> dict[str, list[Report]]:
    """Every active rule against the conversation, grouped: routing (new), routing
    (reopened), then each automation trigger. Nothing is changed."""
    facts = facts_for(conversation)
    groups: dict[str, list[Report]] = {}
    for occasion in (RoutingRule.Occasion.NEW, RoutingRule.Occasion.REOPENED):
        rules = [
            c for c in routing_rules() if c.rule.occasion in (RoutingRule.Occasion.BOTH, occasion)
        ]
        groups[f"routing:{occasion}"] = _reports(rules, facts, "routing")
    for trigger in Trigger.values:
        groups[trigger] = _reports(automation_rules(trigger), facts, "automation")
    return groups


def _reports(rules: list[Compiled], facts: Facts, kind: str) -> list[Report]:
    reports = []
    stopped = False
    for compiled in rules:
        rule = compiled.rule
        checks = compiled.explain(facts)
        if isinstance(rule, AutomationRule) and rule.trigger == Trigger.IDLE and rule.idle_hours:
            last = facts.conversation.last_message_at
            hours = (timezone.now() - last).total_seconds() / 3600 if last else 0.0
            checks.append(
                Check("idle", hours >= rule.idle_hours, f"{hours:.1f} h / {rule.idle_hours} h")
            )
        matched = all(c.ok for c in checks)
        notes = []
        if stopped and matched:
            notes.append("an earlier rule stops here")
        reports.append(
            Report(
                rule=rule,
                kind=kind,
                checks=checks,
                matched=matched,
                fires=matched and not stopped,
                actions=rule_actions.describe(rule),
                notes=notes,
            )
        )
        if matched and not stopped and rule.stop:
            stopped = True
    return reports
