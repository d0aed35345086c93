"""Bulk actions on an inbox selection: one action call per conversation, each checked against
what the agent may see, each failure reported on its own (the others still happen)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model

from kefu.conversations import actions
from kefu.conversations.access import visible_conversations
from kefu.conversations.models import Conversation, Priority, Status
from kefu.core.errors import ActionError
from kefu.staff.access import agent_profile
from kefu.staff.models import Team

MAX_SELECTION = 200
OPERATIONS = ("assign", "team", "status", "priority", "tag", "untag")


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (conversation id, why)


def parse_ids(raw: Sequence[str]) -> list[int]:
    ids: list[int] = []
    for value in raw:
        text = str(value).strip().lstrip("#")
        if not text.isdigit() or len(text) > 18:
            raise ActionError(f"not a conversation number: {str(value)[:20]!r}")
        if int(text) not in ids:
            ids.append(int(text))
    if not ids:
        raise ActionError("select at least one conversation")
    if len(ids) > MAX_SELECTION:
        raise ActionError(f"select at most {MAX_SELECTION} conversations at once")
    return ids


def _agent(actor: Any, value: str) -> Any:
    if value in ("", "none"):
        return None
    if value == "me":
        return actor
    if not value.isdigit():
        raise ActionError(f"not an agent: {value[:20]!r}")
    user = get_user_model()._default_manager.filter(pk=int(value)).first()
    if user is None or agent_profile(user) is None:
        raise ActionError("no such agent")
    return user


def _team(value: str) -> Team | None:
    if value in ("", "none"):
        return None
    if not value.isdigit():
        raise ActionError(f"not a team: {value[:20]!r}")
    team = Team.objects.filter(pk=int(value)).first()
    if team is None:
        raise ActionError("no such team")
    return team


def _door(actor: Any, operation: str, value: str) -> Callable[[Conversation], Any]:
    """The action to run on each conversation, with ``value`` parsed once (a bad value fails
    the whole request before anything changes)."""
    if operation == "assign":
        assignee = _agent(actor, value)
        return lambda c: actions.assign(c, actor=actor, assignee=assignee, team=c.team)
    if operation == "team":
        team = _team(value)

        def move(c: Conversation) -> Any:
            profile = agent_profile(c.assignee) if c.assignee_id else None
            keeps = profile is not None and (
                team is None or profile.sees_all_teams or profile.teams.filter(pk=team.pk).exists()
            )
            return actions.assign(c, actor=actor, assignee=c.assignee if keeps else None, team=team)

        return move
    if operation == "status":
        if value not in Status.values:
            raise ActionError(f"unknown status {value[:20]!r}")
        return lambda c: actions.set_status(c, actor=actor, status=value)
    if operation == "priority":
        if value not in Priority.values:
            raise ActionError(f"unknown priority {value[:20]!r}")
        return lambda c: actions.set_priority(c, actor=actor, priority=value)
    if operation in ("tag", "untag"):
        name = actions.normalize_tag(value)
        if operation == "tag":
            return lambda c: actions.tag(c, actor=actor, add=[name])
        return lambda c: actions.tag(c, actor=actor, remove=[name])
    raise ActionError(f"unknown bulk action {operation[:20]!r}")


def bulk_apply(actor: Any, ids: Sequence[int], operation: str, value: str) -> BulkResult:
    """Run ``operation`` with ``value`` on every selected conversation the actor may see.
    Conversations they may not see fail as "not found" (their existence is not revealed)."""
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can do this")
    door = _door(actor, operation, (value or "").strip())
    found = {
        c.pk: c
        for c in visible_conversations(actor)
        .filter(pk__in=ids)
        .select_related("team", "assignee", "customer")
    }
    result = BulkResult()
    for pk in ids:
        conversation = found.get(pk)
        if conversation is None:
            result.failed.append((pk, "not found"))
            continue
        try:
            door(conversation)
        except ActionError as exc:
            result.failed.append((pk, str(exc)))
        else:
            result.done.append(pk)
    return result
