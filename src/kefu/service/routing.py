"""Routing: where a new or reopened conversation goes, as a listener on the spine.

The active routing rules are looked at in order; each one whose conditions hold acts (team,
priority, kind, tags, assignee) and, if it says "stop here", the later ones are not looked at.
A conversation that ends with a team but nobody assigned gets the team's strategy (see
assignment.py), as does one a person moves to a team without naming an agent (live chats
excepted: they have their own queue). Conversations left waiting because nobody had room move
when an agent of the team comes online or one of their conversations leaves their load.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Any

from kefu.conversations.models import OPEN_STATUSES, Channel, Conversation, Status
from kefu.core.events import (
    AgentAvailabilityChanged,
    ConversationAssigned,
    ConversationOpened,
    StatusChanged,
    acting,
    current_cause,
    listen,
)
from kefu.service import automation, rule_actions
from kefu.service.assignment import LOAD_STATUSES, assign_by_strategy
from kefu.service.models import RoutingRule, Trigger
from kefu.service.rules import Compiled, auto_assigning_teams, facts_for, routing_rules
from kefu.staff.models import AgentProfile

logger = logging.getLogger(__name__)


def applicable(occasion: str) -> list[Compiled]:
    return [c for c in routing_rules() if c.rule.occasion in (RoutingRule.Occasion.BOTH, occasion)]


def route(conversation_id: int, occasion: str) -> list[RoutingRule]:
    """Run the routing rules on the conversation; the rules that acted."""
    rules = applicable(occasion)
    if not rules and not auto_assigning_teams():
        return []  # nothing configured: not one query
    conversation = rule_actions.fresh(conversation_id)
    if conversation is None or not conversation.is_open:
        return []
    acted: list[RoutingRule] = []
    chain = current_cause().chain
    facts = facts_for(conversation) if rules else None
    with ExitStack() as pass_chain:  # rules acting in one pass are one chain
        for compiled in rules:
            rule: RoutingRule = compiled.rule
            step = f"routing:{rule.pk}:{conversation_id}"
            if step in chain:
                continue
            assert facts is not None
            if not compiled.matches(facts):
                continue
            rule_actions.apply(rule, conversation, step=step)
            pass_chain.enter_context(acting("", step))
            acted.append(rule)
            conversation = rule_actions.fresh(conversation_id)
            if conversation is None:
                return acted
            if rule.stop:
                break
            facts = facts_for(conversation)
        if _wants_strategy(conversation):
            _by_strategy(conversation)
    return acted


def _wants_strategy(conversation: Conversation) -> bool:
    """Unassigned, with a team that assigns by itself; live chats have their own queue
    (kefu/livechat/routing.py), unless a rule says otherwise."""
    return (
        conversation.assignee_id is None
        and conversation.team_id in auto_assigning_teams()
        and conversation.is_open
        and conversation.channel != Channel.CHAT
    )


def _by_strategy(conversation: Conversation) -> Any:
    team = conversation.team
    assert team is not None
    with acting(str(team.assignment_policy), f"assignment:{conversation.pk}"):
        return assign_by_strategy(conversation, team)


@listen(ConversationOpened)
def on_opened(event: ConversationOpened) -> None:
    """Route first, so the "created" automation rules see where the conversation went."""
    route(event.conversation_id, RoutingRule.Occasion.NEW)
    automation.run(Trigger.CREATED, event.conversation_id)


@listen(StatusChanged)
def on_reopened(event: StatusChanged) -> None:
    if event.old in (Status.SOLVED, Status.CLOSED) and event.new in OPEN_STATUSES:
        route(event.conversation_id, RoutingRule.Occasion.REOPENED)


@listen(ConversationAssigned)
def on_moved(event: ConversationAssigned) -> None:
    """A person moved the conversation to another team without naming an agent."""
    if (
        event.actor_id is None
        or event.assignee_id is not None
        or event.team_id is None
        or event.team_id == event.previous_team_id
        or event.team_id not in auto_assigning_teams()
    ):
        return
    conversation = rule_actions.fresh(event.conversation_id)
    if conversation is not None and _wants_strategy(conversation):
        _by_strategy(conversation)


DRAIN_LIMIT = 50  # waiting conversations handed out per event


def drain(team_ids: set[int], limit: int = DRAIN_LIMIT) -> int:
    """Give the teams' waiting conversations (unassigned, oldest first) to whoever has room
    now; stops at a conversation nobody can take. How many were assigned."""
    assigned = 0
    for team_id in sorted(team_ids & auto_assigning_teams()):
        waiting = (
            Conversation.objects.filter(
                team_id=team_id, assignee__isnull=True, status__in=OPEN_STATUSES
            )
            .exclude(channel=Channel.CHAT)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        for pk in list(waiting):
            conversation = rule_actions.fresh(pk)
            if conversation is None or not _wants_strategy(conversation):
                continue
            if _by_strategy(conversation) is None:
                break  # nobody has room: the rest keep waiting
            assigned += 1
    return assigned


@listen(AgentAvailabilityChanged)
def on_agent_available(event: AgentAvailabilityChanged) -> None:
    """An agent came online or took more: the waiting conversations of their teams move."""
    if event.presence != AgentProfile.Presence.ONLINE or not auto_assigning_teams():
        return
    teams = set(AgentProfile.objects.filter(user_id=event.agent_id).values_list("teams", flat=True))
    drain({t for t in teams if t is not None})


@listen(StatusChanged)
def on_freed(event: StatusChanged) -> None:
    """A conversation left an agent's load (pending, solved, closed): the next one waiting in
    its team may go to them (or whoever the strategy picks)."""
    if (
        event.assignee_id is not None
        and event.team_id is not None
        and event.old in LOAD_STATUSES
        and event.new not in LOAD_STATUSES
        and event.team_id in auto_assigning_teams()
    ):
        drain({event.team_id}, limit=1)
