"""Complaints: a human acknowledges each one, and it is solved only with a resolution note and
a root cause (``actions.check_solvable`` enforces it on every path to solved or closed).

Complaints get their own SLA targets from the service app's policies (chosen by kind); the
supervisors' open-complaints view reads :func:`open_complaints`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kefu.conversations import actions
from kefu.conversations.access import visible_conversations
from kefu.conversations.models import OPEN_STATUSES, Conversation, Kind, RootCause, Status
from kefu.core.errors import ActionError
from kefu.core.events import ComplaintHandled, emit
from kefu.customers.timeline import record
from kefu.staff.access import agent_profile

MAX_NOTE = 5000


def _ids(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "team_id": conversation.team_id,
        "assignee_id": conversation.assignee_id,
    }


def acknowledge_complaint(conversation: Conversation, *, actor: Any) -> Conversation:
    """An agent confirms a person has read the complaint (an automatic acknowledgment email
    never counts: only this action sets ``acknowledged_at``)."""
    profile = agent_profile(actor)
    if profile is None:
        raise ActionError("only an active agent can acknowledge a complaint")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.kind != Kind.COMPLAINT:
            raise ActionError("only a complaint is acknowledged")
        if conversation.acknowledged_at is not None:
            raise ActionError("this complaint was already acknowledged")
        conversation.acknowledged_at = timezone.now()
        conversation.acknowledged_by = actor
        conversation.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
        record(
            conversation.customer,
            "complaint_acknowledged",
            actor=actor,
            conversation=conversation,
        )
    emit(ComplaintHandled(actor_id=actor.pk, what="acknowledged", **_ids(conversation)))
    return conversation


def root_causes() -> QuerySet[RootCause]:
    return RootCause.objects.filter(active=True)


def resolve_complaint(
    conversation: Conversation,
    *,
    actor: Any,
    note: str,
    root_cause: RootCause | int | None,
    solve: bool = True,
) -> Conversation:
    """Record how a complaint was resolved and why it happened, then (``solve``) solve it, all
    in one transaction: a refused solve leaves nothing half-written."""
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can resolve a complaint")
    note = (note or "").replace("\x00", "").strip()
    if not note:
        raise ActionError("write a resolution note")
    if len(note) > MAX_NOTE:
        raise ActionError(f"a resolution note is at most {MAX_NOTE} characters")
    if root_cause is None or root_cause == "":
        raise ActionError("choose a root cause")
    if not isinstance(root_cause, RootCause):
        try:
            root_cause = root_causes().get(pk=int(root_cause))
        except (ValueError, TypeError, RootCause.DoesNotExist) as exc:
            raise ActionError("no such root cause") from exc
    elif not root_cause.active:
        raise ActionError("this root cause is no longer in use")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.kind != Kind.COMPLAINT:
            raise ActionError("only a complaint takes a resolution")
        if conversation.status == Status.CLOSED:
            raise ActionError("this conversation is closed")
        conversation.resolution_note = note
        conversation.root_cause = root_cause
        conversation.save(update_fields=["resolution_note", "root_cause", "updated_at"])
        record(
            conversation.customer,
            "complaint_resolution",
            actor=actor,
            conversation=conversation,
            root_cause=root_cause.name,
            excerpt=note[:120],
        )
        emit(ComplaintHandled(actor_id=actor.pk, what="resolution", **_ids(conversation)))
        if solve and conversation.status != Status.SOLVED:
            conversation = actions.set_status(conversation, actor=actor, status=Status.SOLVED)
    return conversation


def open_complaints(user: Any) -> QuerySet[Conversation]:
    """Open complaints the user may see, oldest first (the longest-waiting on top)."""
    return (
        visible_conversations(user)
        .filter(kind=Kind.COMPLAINT, status__in=OPEN_STATUSES)
        .select_related(
            "customer",
            "team",
            "assignee__agent_profile",
            "acknowledged_by__agent_profile",
            "sla_clock",
        )
        .order_by("created_at", "id")
    )
