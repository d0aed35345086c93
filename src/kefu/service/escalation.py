"""Escalation: what the rules do when a conversation nears or breaches an SLA target.

Notify (a toast in the agent's workspace, and by email through a background task), raise the
priority, reassign to a team or an agent. Changes go through the conversation actions like any
agent's; the step itself is one timeline row that names the rule and what it did.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from kefu.conversations import actions
from kefu.conversations.models import PRIORITY_RANK, Conversation
from kefu.core import realtime
from kefu.core.errors import ActionError
from kefu.core.events import SlaBreached, SlaWarning, listen
from kefu.core.labels import label
from kefu.customers.timeline import record
from kefu.service.models import EscalationRule
from kefu.service.policies import escalation_rules
from kefu.staff.access import agent_profile

logger = logging.getLogger(__name__)


def matching_rules(event: SlaWarning | SlaBreached) -> list[EscalationRule]:
    on = EscalationRule.On.BREACHED if isinstance(event, SlaBreached) else EscalationRule.On.WARNING
    return [
        rule
        for rule in escalation_rules()
        if rule.on == on
        and rule.target in ("", event.target)
        and rule.policy_id in (None, event.policy_id)
    ]


@listen(SlaWarning, SlaBreached)
def escalate(event: Any) -> None:
    rules = matching_rules(event)
    if not rules:
        return
    conversation = (
        Conversation.objects.select_related("customer", "team").filter(pk=event.conversation_id)
    ).first()
    if conversation is None or not conversation.is_open:
        return
    for rule in rules:
        try:
            conversation = _apply(rule, conversation, event)
        except Exception:
            logger.exception("escalation rule %s failed on #%s", rule.pk, conversation.pk)


def _apply(
    rule: EscalationRule, conversation: Conversation, event: SlaWarning | SlaBreached
) -> Conversation:
    done: dict[str, Any] = {}
    recipients = _recipients(rule, conversation)  # whoever held it when the clock ran out
    if rule.raise_priority and (
        PRIORITY_RANK[rule.raise_priority] > PRIORITY_RANK[conversation.priority]  # type: ignore[index]
    ):
        conversation = actions.set_priority(conversation, actor=None, priority=rule.raise_priority)
        done["priority"] = rule.raise_priority
    if rule.reassign_team_id or rule.reassign_agent_id:
        team = rule.reassign_team if rule.reassign_team_id else conversation.team
        assignee = rule.reassign_agent
        if assignee is None and conversation.assignee_id is not None and team is not None:
            profile = agent_profile(conversation.assignee)
            if profile is not None and (
                profile.sees_all_teams or profile.teams.filter(pk=team.pk).exists()
            ):
                assignee = conversation.assignee  # the team changes, the owner may stay
        try:
            conversation = actions.assign(conversation, actor=None, assignee=assignee, team=team)
            done["team"] = team.name if team else ""
            done["assignee"] = str(agent_profile(assignee) or assignee) if assignee else ""
        except ActionError as exc:
            done["failed"] = str(exc)
    if recipients:
        _toast(recipients, conversation, event)
        done["notified"] = [str(agent_profile(u) or u) for u in recipients]
        if rule.email:
            send_escalation_mail.enqueue(
                [u.pk for u in recipients],
                conversation.pk,
                event.target,
                isinstance(event, SlaBreached),
                event.due_at.isoformat(),
            )
            done["email"] = True
    record(
        conversation.customer,
        "sla_escalated",
        conversation=conversation,
        rule=rule.name,
        target=event.target,
        on=rule.on,
        **done,
    )
    return conversation


def _recipients(rule: EscalationRule, conversation: Conversation) -> list[Any]:
    users: dict[int, Any] = {}
    if rule.notify_assignee and conversation.assignee_id:
        users[conversation.assignee_id] = conversation.assignee
    if rule.notify_team_lead and conversation.team and conversation.team.lead_id:
        users[conversation.team.lead_id] = conversation.team.lead
    if rule.notify_user_id:
        users[rule.notify_user_id] = rule.notify_user
    return [u for u in users.values() if u is not None and u.is_active]


def _message(conversation: Conversation, target: str, breached: bool, due: datetime) -> str:
    when = timezone.localtime(due).strftime("%m-%d %H:%M")
    text = (
        _("SLA breached: %(target)s of %(ref)s was due %(due)s")
        if breached
        else _("SLA near breach: %(target)s of %(ref)s is due %(due)s")
    )
    return text % {"target": label(target), "ref": conversation.reference, "due": when}


def _toast(users: list[Any], conversation: Conversation, event: SlaWarning | SlaBreached) -> None:
    for user in users:
        profile = agent_profile(user)
        with (
            translation.override(profile.language if profile and profile.language else None),
            timezone.override(profile.timezone if profile and profile.timezone else None),
        ):
            breached = isinstance(event, SlaBreached)
            text = _message(conversation, event.target, breached, event.due_at)
        realtime.publish(
            [realtime.agent_group(user.pk)],
            {
                "type": "workspace.frame",
                "frame": {
                    "op": "toast",
                    "text": f"{text} · {conversation.subject}"[:200],
                    "href": f"/c/{conversation.pk}/",
                },
            },
        )


@task()
def send_escalation_mail(
    user_ids: list[int], conversation_id: int, target: str, breached: bool, due: str
) -> int:
    """One email per recipient, in their language and time zone."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return 0
    sent = 0
    for user in get_user_model()._default_manager.filter(pk__in=user_ids, is_active=True):
        if not user.email:
            continue
        profile = agent_profile(user)
        with (
            translation.override(profile.language if profile and profile.language else None),
            timezone.override(profile.timezone if profile and profile.timezone else None),
        ):
            subject = _message(conversation, target, breached, datetime.fromisoformat(due))
            link = f"{settings.KEFU_BASE_URL}/c/{conversation.pk}/"
            body = f"{subject}\n\n{conversation.subject}\n{link}"
        sent += send_mail(subject, body, None, [user.email])
    return sent
