"""What a matching rule does to a conversation, through the conversation actions only.

Every change runs inside :func:`kefu.core.events.acting`: the timeline names the rule as the
actor ("rule “VIP complaints” assigned …"), and the events the changes cause carry the rule's
step, so the automation listeners can bound the chain (see automation.py).
"""

from __future__ import annotations

import logging
from typing import Any

from kefu.conversations import actions
from kefu.conversations.models import Conversation
from kefu.core.errors import ActionError
from kefu.core.events import acting
from kefu.customers.timeline import record
from kefu.service.models import Assign, AutomationRule, RuleBase
from kefu.service.rules import split_list
from kefu.staff.access import agent_profile
from kefu.staff.models import Team

logger = logging.getLogger(__name__)


def fresh(conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.select_related("customer", "team", "assignee")
        .filter(pk=conversation_id)
        .first()
    )


def target_team(rule: RuleBase, conversation: Conversation) -> Team | None:
    if rule.set_team_id:
        return rule.set_team
    if rule.team_from_customer and conversation.customer.team_id:
        return conversation.customer.team
    return conversation.team


def _member(user: Any, team: Team | None) -> bool:
    profile = agent_profile(user) if user is not None else None
    if profile is None:
        return False
    return team is None or profile.sees_all_teams or profile.teams.filter(pk=team.pk).exists()


def describe(rule: RuleBase) -> list[str]:
    """The rule's actions in words, for the test mode."""
    done = []
    if rule.set_kind:
        done.append(f"kind → {rule.set_kind}")
    if rule.set_priority:
        done.append(f"priority → {rule.set_priority}")
    if rule.add_tags:
        done.append(f"+ {', '.join(split_list(rule.add_tags))}")
    if isinstance(rule, AutomationRule) and rule.remove_tags:
        done.append(f"− {', '.join(split_list(rule.remove_tags))}")
    if rule.set_team_id:
        done.append(f"team → {rule.set_team}")
    if rule.team_from_customer:
        done.append("team → the customer's team")
    if rule.assign:
        who = rule.assign_agent if rule.assign == Assign.AGENT else rule.get_assign_display()
        done.append(f"assign → {who}")
    if isinstance(rule, AutomationRule):
        if rule.set_status:
            done.append(f"status → {rule.set_status}")
        if rule.reply_template_id:
            done.append(f"reply /{rule.reply_template}")
        if rule.note:
            done.append("note")
        if rule.webhook_url:
            done.append(f"webhook {rule.webhook_url}")
    return done


def apply(rule: RuleBase, conversation: Conversation, *, step: str, trigger: str = "") -> list[str]:
    """Do what ``rule`` says; the problems met (each action is tried)."""
    problems: list[str] = []
    with acting(rule.name, step):
        for name, run in _steps(rule):
            current = fresh(conversation.pk)
            if current is None:
                break
            try:
                run(current, trigger)
            except ActionError as exc:
                problems.append(f"{name}: {exc}")
            except Exception as exc:  # one broken action never stops the others
                logger.exception("rule %s: %s failed on #%s", rule.pk, name, conversation.pk)
                problems.append(f"{name}: {type(exc).__name__}")
        if problems:
            current = fresh(conversation.pk)
            if current is not None:
                record(current.customer, "rule_failed", conversation=current, problems=problems)
    return problems


def _steps(rule: RuleBase) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    if rule.set_kind:
        steps.append(("kind", lambda c, _t: actions.set_kind(c, actor=None, kind=rule.set_kind)))
    if rule.set_priority:
        steps.append(
            (
                "priority",
                lambda c, _t: actions.set_priority(c, actor=None, priority=rule.set_priority),
            )
        )
    removed = split_list(rule.remove_tags) if isinstance(rule, AutomationRule) else []
    if rule.add_tags or removed:
        steps.append(
            (
                "tags",
                lambda c, _t: actions.tag(
                    c, actor=None, add=split_list(rule.add_tags), remove=removed
                ),
            )
        )
    if rule.set_team_id or rule.team_from_customer or rule.assign:
        steps.append(("assign", lambda c, _t: _assign(rule, c)))
    if isinstance(rule, AutomationRule):
        if rule.set_status:
            steps.append(
                ("status", lambda c, _t: actions.set_status(c, actor=None, status=rule.set_status))
            )
        if rule.reply_template_id:
            steps.append(("reply", lambda c, _t: _reply(rule, c)))
        if rule.note:
            steps.append(
                ("note", lambda c, _t: actions.add_note(c, agent=None, body_text=rule.note))
            )
        if rule.webhook_url:
            steps.append(("webhook", lambda c, t: _webhook(rule, c, t)))
    return steps


def _assign(rule: RuleBase, conversation: Conversation) -> None:
    from kefu.service.assignment import assign_by_strategy

    team = target_team(rule, conversation)
    if rule.assign == Assign.AGENT:
        actions.assign(conversation, actor=None, assignee=rule.assign_agent, team=team)
    elif rule.assign == Assign.ACCOUNT_MANAGER and _member(conversation.customer.owner, team):
        # Bound to the account manager: theirs even when they are away (escalation covers it).
        actions.assign(conversation, actor=None, assignee=conversation.customer.owner, team=team)
    elif rule.assign in (Assign.STRATEGY, Assign.ACCOUNT_MANAGER) and team is not None:
        assign_by_strategy(conversation, team)
    else:
        keep = conversation.assignee if _member(conversation.assignee, team) else None
        actions.assign(conversation, actor=None, assignee=keep, team=team)


def _reply(rule: AutomationRule, conversation: Conversation) -> None:
    template = rule.reply_template
    assert template is not None
    from kefu.service.macros import MacroContext, render  # the macros' {{placeholders}}

    body = render(template.body, MacroContext(conversation=conversation, agent=None))
    actions.send_automatic_reply(conversation, body_text=body)


def _webhook(rule: AutomationRule, conversation: Conversation, trigger: str) -> None:
    from kefu.service.webhooks import queue_call

    call = queue_call(rule, conversation, trigger)
    record(
        conversation.customer,
        "rule_webhook",
        conversation=conversation,
        rule=rule.name,
        url=call.url,
        state=call.state,
        attempts=0,
    )
