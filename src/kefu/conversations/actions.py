"""The only door that changes a conversation. Every channel, page and API call comes here.

Each action validates, writes in one transaction (the conversation row locked), records a
timeline entry and emits a typed event that listeners receive after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from kefu.conversations.models import (
    OPEN_STATUSES,
    Attachment,
    Channel,
    Conversation,
    Kind,
    Message,
    Priority,
    Status,
)
from kefu.core import bulk
from kefu.core.errors import ActionError
from kefu.core.events import (
    ConversationAssigned,
    ConversationOpened,
    ConversationsMerged,
    KindChanged,
    MessageAdded,
    PriorityChanged,
    Rated,
    StatusChanged,
    TagsChanged,
    emit,
)
from kefu.core.html import sanitize, text_to_html
from kefu.core.models import Tag
from kefu.customers.models import Customer
from kefu.customers.timeline import record
from kefu.staff.access import agent_profile
from kefu.staff.models import Team

MAX_BODY = 200_000


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def _actor_id(actor: Any) -> int | None:
    return actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None


def _ids(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "team_id": conversation.team_id,
        "assignee_id": conversation.assignee_id,
    }


def _locked(conversation: Conversation) -> Conversation:
    """Re-read the conversation under a row lock (call inside ``transaction.atomic``)."""
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


def _require_agent(actor: Any) -> None:
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can do this")


def _clean_body(body_text: str, body_html: str = "") -> tuple[str, str]:
    # PostgreSQL cannot store NUL characters; they carry no meaning in a message.
    body_text = (body_text or "").replace("\x00", "").strip()
    body_html = (body_html or "").replace("\x00", "")
    if len(body_text) > MAX_BODY or len(body_html) > MAX_BODY * 5:
        raise ActionError(f"a message is at most {MAX_BODY} characters")
    html = sanitize(body_html) if body_html else text_to_html(body_text)
    if not body_text and not body_html:
        raise ActionError("a message cannot be empty")
    return body_text, html


def _store_attachments(message: Message, attachments: Sequence[NewAttachment]) -> None:
    limit = settings.KEFU_MAX_ATTACHMENT_BYTES
    for item in attachments:  # refuse before anything is written to storage
        if len(item.content) > limit:
            raise ActionError(
                f"attachment {item.filename!r} is {len(item.content)} bytes; the limit is {limit}"
            )
    for item in attachments:
        name = (item.filename or "attachment").replace("/", "_").replace("\\", "_")[:200]
        attachment = Attachment(
            message=message,
            filename=name,
            content_type=item.content_type,
            size=len(item.content),
        )
        attachment.file.save(name, ContentFile(item.content), save=False)
        attachment.save()


def _add_message(
    conversation: Conversation,
    *,
    direction: str,
    body_text: str,
    body_html: str = "",
    channel: str | None = None,
    author_customer: Customer | None = None,
    author_agent: Any = None,
    metadata: dict[str, Any] | None = None,
    external_id: str = "",
    attachments: Sequence[NewAttachment] = (),
) -> Message:
    text, html = _clean_body(body_text, body_html)
    message = Message.objects.create(
        conversation=conversation,
        direction=direction,
        channel=channel or conversation.channel,
        author_customer=author_customer,
        author_agent=author_agent,
        body_text=text,
        body_html=html,
        metadata=metadata or {},
        external_id=external_id[:255],
    )
    _store_attachments(message, attachments)
    return message


def open_conversation(
    *,
    customer: Customer,
    channel: str,
    subject: str,
    body_text: str = "",
    body_html: str = "",
    actor: Any = None,
    team: Team | None = None,
    priority: str = Priority.NORMAL,
    kind: str = Kind.QUESTION,
    language: str = "",
    metadata: dict[str, Any] | None = None,
    external_id: str = "",
    attachments: Sequence[NewAttachment] = (),
) -> Conversation:
    """Open a conversation with the customer's first message (if any)."""
    if channel not in Channel.values:
        raise ActionError(f"unknown channel {channel!r}")
    if priority not in Priority.values:
        raise ActionError(f"unknown priority {priority!r}")
    if kind not in Kind.values:
        raise ActionError(f"unknown kind {kind!r}")
    if customer.merged_into_id:
        raise ActionError("this customer was merged into another; use that one")
    subject = " ".join((subject or "").replace("\x00", "").split())[:255]
    if len(language) > 10:
        raise ActionError(f"not a language code: {language[:20]!r}")
    now = timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.create(
            customer=customer,
            channel=channel,
            subject=subject,
            team=team,
            priority=priority,
            kind=kind,
            language=language,
            last_message_at=now,
        )
        message = None
        if body_text or body_html:
            message = _add_message(
                conversation,
                direction=Message.Direction.IN,
                body_text=body_text,
                body_html=body_html,
                author_customer=customer,
                metadata=metadata,
                external_id=external_id,
                attachments=attachments,
            )
            conversation.last_inbound_at = now
            conversation.save(update_fields=["last_inbound_at"])
        record(
            customer,
            "conversation_opened",
            actor=actor,
            conversation=conversation,
            channel=channel,
            subject=subject,
        )
    emit(
        ConversationOpened(
            actor_id=_actor_id(actor),
            customer_id=customer.pk,
            channel=channel,
            **_ids(conversation),
        )
    )
    if message is not None:
        emit(
            MessageAdded(
                actor_id=_actor_id(actor),
                message_id=message.pk,
                channel=message.channel,
                direction="in",
                **_ids(conversation),
            )
        )
    return conversation


def receive_message(
    conversation: Conversation,
    *,
    body_text: str,
    body_html: str = "",
    channel: str | None = None,
    metadata: dict[str, Any] | None = None,
    external_id: str = "",
    attachments: Sequence[NewAttachment] = (),
    actor: Any = None,
    timeline: bool = True,
) -> Message:
    """A customer wrote to an existing conversation; a solved or waiting one reopens.

    ``timeline=False`` leaves the line out of the customer's timeline (a chat's lines: the
    timeline shows the chat starting and ending, not every "ok" typed in it).

    A closed conversation takes no more messages: the channel opens a follow-up instead.
    """
    now = timezone.now()
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.status == Status.CLOSED:
            raise ActionError("this conversation is closed; open a follow-up conversation")
        if not conversation.takes_customer_replies:
            raise ActionError(
                f"this conversation was solved more than {settings.KEFU_REOPEN_DAYS} days ago; "
                "open a follow-up conversation"
            )
        message = _add_message(
            conversation,
            direction=Message.Direction.IN,
            body_text=body_text,
            body_html=body_html,
            channel=channel,
            author_customer=conversation.customer,
            metadata=metadata,
            external_id=external_id,
            attachments=attachments,
        )
        old_status = conversation.status
        conversation.last_message_at = conversation.last_inbound_at = now
        fields = ["last_message_at", "last_inbound_at", "updated_at"]
        if old_status in (Status.PENDING, Status.SOLVED, Status.ON_HOLD):
            conversation.status = Status.OPEN
            conversation.solved_at = None
            fields += ["status", "solved_at"]
        conversation.save(update_fields=fields)
        if timeline:
            record(
                conversation.customer,
                "message_received",
                conversation=conversation,
                channel=message.channel,
                excerpt=message.body_text[:120],
            )
        if conversation.status != old_status:
            record(
                conversation.customer,
                "status_changed",
                conversation=conversation,
                old=old_status,
                new=conversation.status,
                reason="customer_replied",
            )
    emit(
        MessageAdded(
            actor_id=_actor_id(actor),
            message_id=message.pk,
            channel=message.channel,
            direction="in",
            **_ids(conversation),
        )
    )
    if conversation.status != old_status:
        emit(
            StatusChanged(
                actor_id=None, old=old_status, new=conversation.status, **_ids(conversation)
            )
        )
    return message


def send_reply(
    conversation: Conversation,
    *,
    agent: Any,
    body_text: str,
    attachments: Sequence[NewAttachment] = (),
    status: str | None = None,
) -> Message:
    """An agent answers the customer; optionally sets the status in the same step
    (e.g. reply and mark pending). The channel's listener delivers it."""
    _require_agent(agent)
    if status is not None and status not in Status.values:
        raise ActionError(f"unknown status {status!r}")
    if status == Status.NEW:
        raise ActionError("a conversation cannot go back to new")
    now = timezone.now()
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.status == Status.CLOSED:
            raise ActionError("this conversation is closed")
        message = _add_message(
            conversation,
            direction=Message.Direction.OUT,
            body_text=body_text,
            author_agent=agent,
            attachments=attachments,
        )
        old_status = conversation.status
        new_status = status or (Status.OPEN if old_status == Status.NEW else old_status)
        if new_status != old_status and new_status in (Status.SOLVED, Status.CLOSED):
            check_solvable(conversation)
        conversation.status = new_status
        conversation.last_message_at = now
        fields = ["status", "last_message_at", "updated_at"]
        if conversation.first_responded_at is None:
            conversation.first_responded_at = now
            fields.append("first_responded_at")
        took_over = conversation.assignee_id is None
        if took_over:
            conversation.assignee = agent  # whoever answers first owns the conversation
            fields.append("assignee")
        if new_status == Status.SOLVED and old_status != Status.SOLVED:
            conversation.solved_at = now
            fields.append("solved_at")
        elif new_status in OPEN_STATUSES and conversation.solved_at is not None:
            conversation.solved_at = None
            fields.append("solved_at")
        conversation.save(update_fields=fields)
        record(
            conversation.customer,
            "reply_sent",
            actor=agent,
            conversation=conversation,
            excerpt=message.body_text[:120],
        )
        if new_status != old_status:
            record(
                conversation.customer,
                "status_changed",
                actor=agent,
                conversation=conversation,
                old=old_status,
                new=new_status,
            )
        if took_over:
            record(
                conversation.customer,
                "assigned",
                actor=agent,
                conversation=conversation,
                assignee=str(agent_profile(agent)),
                team=conversation.team.name if conversation.team else "",
            )
    emit(
        MessageAdded(
            actor_id=agent.pk,
            message_id=message.pk,
            channel=message.channel,
            direction="out",
            **_ids(conversation),
        )
    )
    if took_over:
        emit(
            ConversationAssigned(
                actor_id=agent.pk,
                previous_assignee_id=None,
                previous_team_id=conversation.team_id,
                **_ids(conversation),
            )
        )
    if new_status != old_status:
        emit(StatusChanged(actor_id=agent.pk, old=old_status, new=new_status, **_ids(conversation)))
    return message


def add_note(conversation: Conversation, *, agent: Any, body_text: str) -> Message:
    """An internal note: agents see it, the customer never does. ``agent=None`` is kefu
    itself (e.g. "this email could not be read; the original is attached")."""
    if agent is not None:
        _require_agent(agent)
    with transaction.atomic():
        conversation = _locked(conversation)
        message = _add_message(
            conversation,
            direction=Message.Direction.NOTE,
            body_text=body_text,
            author_agent=agent,
        )
        conversation.save(update_fields=["updated_at"])
        record(
            conversation.customer,
            "note_added",
            actor=agent,
            conversation=conversation,
            excerpt=message.body_text[:120],
        )
    emit(
        MessageAdded(
            actor_id=_actor_id(agent),
            message_id=message.pk,
            channel=message.channel,
            direction="note",
            **_ids(conversation),
        )
    )
    return message


def send_automatic_reply(conversation: Conversation, *, body_text: str) -> Message:
    """kefu itself answers the customer (an automation rule's template reply): delivered by
    the channel like an agent's reply, but it is no one's answer: the first response is
    still owed, nobody takes the conversation over and its status stays."""
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.status == Status.CLOSED:
            raise ActionError("this conversation is closed")
        message = _add_message(
            conversation,
            direction=Message.Direction.OUT,
            body_text=body_text,
            metadata={"automatic": True},
        )
        conversation.last_message_at = timezone.now()
        conversation.save(update_fields=["last_message_at", "updated_at"])
        record(
            conversation.customer,
            "reply_sent",
            conversation=conversation,
            excerpt=message.body_text[:120],
            automatic=True,
        )
    emit(
        MessageAdded(
            actor_id=None,
            message_id=message.pk,
            channel=message.channel,
            direction="out",
            automatic=True,
            **_ids(conversation),
        )
    )
    return message


def assign(
    conversation: Conversation, *, actor: Any, assignee: Any, team: Team | None
) -> Conversation:
    """Give the conversation to ``team`` and ``assignee`` (either may be None: unassigned).

    Pass the current values to keep them; there is no "unchanged" marker.
    """
    if assignee is not None:
        profile = agent_profile(assignee)
        if profile is None:
            raise ActionError(f"{assignee} is not an active agent")
        if (
            team is not None
            and not profile.sees_all_teams
            and not profile.teams.filter(pk=team.pk).exists()
        ):
            raise ActionError(f"{profile.name} is not a member of {team.name}")
    with transaction.atomic():
        conversation = _locked(conversation)
        previous_assignee_id, previous_team_id = conversation.assignee_id, conversation.team_id
        if previous_assignee_id == _pk(assignee) and previous_team_id == _pk(team):
            return conversation
        conversation.assignee = assignee
        conversation.team = team
        conversation.save(update_fields=["assignee", "team", "updated_at"])
        record(
            conversation.customer,
            "assigned",
            actor=actor,
            conversation=conversation,
            assignee=str(agent_profile(assignee) or "") if assignee else "",
            team=team.name if team else "",
        )
    emit(
        ConversationAssigned(
            actor_id=_actor_id(actor),
            previous_assignee_id=previous_assignee_id,
            previous_team_id=previous_team_id,
            **_ids(conversation),
        )
    )
    return conversation


def _pk(obj: Any) -> int | None:
    return obj.pk if obj is not None else None


def check_solvable(conversation: Conversation) -> None:
    """A complaint is solved only once an agent acknowledged it and recorded a resolution
    note and a root cause (kefu/conversations/complaints.py records them)."""
    if conversation.kind != Kind.COMPLAINT:
        return
    if conversation.acknowledged_at is None:
        raise ActionError("acknowledge this complaint before solving it")
    if not conversation.resolution_note.strip() or conversation.root_cause_id is None:
        raise ActionError(
            "a complaint needs a resolution note and a root cause before it can be solved"
        )


def set_status(conversation: Conversation, *, actor: Any, status: str) -> Conversation:
    if status not in Status.values:
        raise ActionError(f"unknown status {status!r}")
    with transaction.atomic():
        conversation = _locked(conversation)
        old = conversation.status
        if old == status:
            return conversation
        if old == Status.CLOSED:
            raise ActionError("a closed conversation cannot change status")
        if status == Status.NEW:
            raise ActionError("a conversation cannot go back to new")
        if status in (Status.SOLVED, Status.CLOSED) and old != Status.SOLVED:
            check_solvable(conversation)
        conversation.status = status
        fields = ["status", "updated_at"]
        if status == Status.SOLVED:
            conversation.solved_at = timezone.now()
            fields.append("solved_at")
        elif status in OPEN_STATUSES:
            conversation.solved_at = None
            fields.append("solved_at")
        conversation.save(update_fields=fields)
        record(
            conversation.customer,
            "status_changed",
            actor=actor,
            conversation=conversation,
            old=old,
            new=status,
        )
    emit(StatusChanged(actor_id=_actor_id(actor), old=old, new=status, **_ids(conversation)))
    return conversation


def set_priority(conversation: Conversation, *, actor: Any, priority: str) -> Conversation:
    if priority not in Priority.values:
        raise ActionError(f"unknown priority {priority!r}")
    with transaction.atomic():
        conversation = _locked(conversation)
        old = conversation.priority
        if old == priority:
            return conversation
        conversation.priority = priority
        conversation.save(update_fields=["priority", "updated_at"])
        record(
            conversation.customer,
            "priority_changed",
            actor=actor,
            conversation=conversation,
            old=old,
            new=priority,
        )
    emit(PriorityChanged(actor_id=_actor_id(actor), old=old, new=priority, **_ids(conversation)))
    return conversation


def set_kind(conversation: Conversation, *, actor: Any, kind: str) -> Conversation:
    if kind not in Kind.values:
        raise ActionError(f"unknown kind {kind!r}")
    with transaction.atomic():
        conversation = _locked(conversation)
        old = conversation.kind
        if old == kind:
            return conversation
        conversation.kind = kind
        conversation.save(update_fields=["kind", "updated_at"])
        record(
            conversation.customer,
            "kind_changed",
            actor=actor,
            conversation=conversation,
            old=old,
            new=kind,
        )
    emit(KindChanged(actor_id=_actor_id(actor), old=old, new=kind, **_ids(conversation)))
    return conversation


def normalize_tag(name: str) -> str:
    name = " ".join(name.split()).strip().lower()
    if not name or len(name) > 64:
        raise ActionError("a tag is 1–64 characters")
    return name


def tag(
    conversation: Conversation,
    *,
    actor: Any,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> Conversation:
    to_add = {normalize_tag(n) for n in add}
    to_remove = {normalize_tag(n) for n in remove} - to_add
    with transaction.atomic():
        conversation = _locked(conversation)
        current = set(conversation.tags.values_list("name", flat=True))
        added = sorted(to_add - current)
        removed = sorted(to_remove & current)
        if not added and not removed:
            return conversation
        if added:
            tags = [Tag.objects.get_or_create(name=n)[0] for n in added]
            conversation.tags.add(*tags)
        if removed:
            conversation.tags.remove(*Tag.objects.filter(name__in=removed))
        conversation.save(update_fields=["updated_at"])
        record(
            conversation.customer,
            "tags_changed",
            actor=actor,
            conversation=conversation,
            added=added,
            removed=removed,
        )
    emit(
        TagsChanged(
            actor_id=_actor_id(actor),
            added=tuple(added),
            removed=tuple(removed),
            **_ids(conversation),
        )
    )
    return conversation


def merge_conversations(source: Conversation, target: Conversation, *, actor: Any) -> Conversation:
    """Move every message of ``source`` into ``target`` and close ``source`` as merged."""
    _require_agent(actor)
    if source.pk == target.pk:
        raise ActionError("a conversation cannot be merged into itself")
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Conversation.objects.select_for_update()
            .filter(pk__in=[source.pk, target.pk])
            .order_by("pk")
        }
        source, target = locked[source.pk], locked[target.pk]
        if source.merged_into_id:
            raise ActionError(f"conversation {source.reference} was already merged")
        if target.status == Status.CLOSED:
            raise ActionError("cannot merge into a closed conversation")
        source.messages.update(conversation=target)
        target.tags.add(*source.tags.all())
        if source.last_message_at and (
            target.last_message_at is None or source.last_message_at > target.last_message_at
        ):
            target.last_message_at = source.last_message_at
        target.save(update_fields=["last_message_at", "updated_at"])
        old_status = source.status
        source.status = Status.CLOSED
        source.merged_into = target
        source.save(update_fields=["status", "merged_into", "updated_at"])
        record(
            target.customer,
            "conversation_merged",
            actor=actor,
            conversation=target,
            source=source.reference,
        )
        if old_status != Status.CLOSED:
            record(
                source.customer,
                "status_changed",
                actor=actor,
                conversation=source,
                old=old_status,
                new=Status.CLOSED,
                reason="merged",
                target=target.reference,
            )
    emit(ConversationsMerged(actor_id=actor.pk, source_id=source.pk, **_ids(target)))
    if old_status != Status.CLOSED:
        emit(StatusChanged(actor_id=actor.pk, old=old_status, new=Status.CLOSED, **_ids(source)))
    return target


def rate(conversation: Conversation, *, score: int, comment: str = "", source: str) -> Conversation:
    """The customer's satisfaction with this conversation (1–5), e.g. from a chat's rating
    or a survey; the latest rating counts."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ActionError("a rating is a whole number from 1 to 5")
    comment = (comment or "").replace("\x00", "").strip()[:2000]
    with transaction.atomic():
        conversation = _locked(conversation)
        conversation.satisfaction = score
        conversation.save(update_fields=["satisfaction", "updated_at"])
        record(
            conversation.customer,
            "rated",
            conversation=conversation,
            score=score,
            comment=comment,
            source=source,
        )
    emit(Rated(actor_id=None, score=score, source=source, **_ids(conversation)))
    return conversation


def set_due_times(
    conversation: Conversation,
    *,
    first_response_due: datetime | None,
    next_response_due: datetime | None,
    resolution_due: datetime | None,
) -> Conversation:
    """Store the SLA due times the service listeners computed (one UPDATE, no event: they run
    inside the dispatch of the event that changed them, before the workspace re-renders).
    The SLA records its own timeline steps; ``updated_at`` is left alone."""
    for value in (first_response_due, next_response_due, resolution_due):
        if value is not None and value.tzinfo is None:
            raise ActionError("due times must be aware datetimes")
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_due=first_response_due,
        next_response_due=next_response_due,
        resolution_due=resolution_due,
    )
    conversation.first_response_due = first_response_due
    conversation.next_response_due = next_response_due
    conversation.resolution_due = resolution_due
    return conversation


# Batches (the email worker) ---------------------------------------------------------------


@dataclass
class Inbound:
    """One customer message of :func:`receive_many`.

    ``conversation`` is an existing conversation, or a new one from
    :func:`new_conversation` (not saved yet). Several items may share one new conversation:
    the first opens it, the others are received into it, as if one by one.
    """

    conversation: Conversation
    body_text: str
    body_html: str = ""
    channel: str | None = None
    metadata: dict[str, Any] | None = None
    external_id: str = ""
    attachments: Sequence[NewAttachment] = ()
    message: Message | None = None  # set by receive_many
    opened: bool = False  # set by receive_many: this item opened its conversation
    timeline: bool = True  # False: not in the customer's timeline (a chat's lines)


def new_conversation(
    *,
    customer: Customer,
    channel: str,
    subject: str,
    team: Team | None = None,
    priority: str = Priority.NORMAL,
    kind: str = Kind.QUESTION,
    language: str = "",
) -> Conversation:
    """A conversation for :func:`receive_many` to open, validated as :func:`open_conversation`
    validates it, not saved yet."""
    if channel not in Channel.values:
        raise ActionError(f"unknown channel {channel!r}")
    if priority not in Priority.values:
        raise ActionError(f"unknown priority {priority!r}")
    if kind not in Kind.values:
        raise ActionError(f"unknown kind {kind!r}")
    if customer.merged_into_id:
        raise ActionError("this customer was merged into another; use that one")
    if len(language) > 10:
        raise ActionError(f"not a language code: {language[:20]!r}")
    return Conversation(
        customer=customer,
        channel=channel,
        subject=" ".join((subject or "").replace("\x00", "").split())[:255],
        team=team,
        priority=priority,
        kind=kind,
        language=language,
    )


def receive_many(items: Sequence[Inbound]) -> None:
    """:func:`open_conversation` / :func:`receive_message` for many customer messages at once,
    in their order, with one INSERT per table for the batch instead of a few per message.

    The same rows, timeline entries and events (one per message, after commit) as calling
    those actions one by one. All or nothing: any refusal (a closed conversation, an empty or
    oversized message) raises ActionError and nothing of the batch is written (the caller's
    transaction then rolls back; it may retry one by one).
    """
    if not items:
        return
    now = timezone.now()
    limit = settings.KEFU_MAX_ATTACHMENT_BYTES
    with transaction.atomic():
        existing_ids = {i.conversation.pk for i in items if i.conversation.pk is not None}
        locked = {
            c.pk: c
            for c in Conversation.objects.select_for_update()
            .select_related("customer")
            .filter(pk__in=existing_ids)
        }
        opening: list[Conversation] = []
        seen_new: set[int] = set()
        conversations: list[Conversation] = []  # per item, the instance that is written
        for item in items:
            conversation = item.conversation
            if conversation.pk is None:
                if id(conversation) not in seen_new:
                    seen_new.add(id(conversation))
                    item.opened = True
                    conversation.last_message_at = now
                    conversation.last_inbound_at = now
                    opening.append(conversation)
            else:
                found = locked.get(conversation.pk)
                if found is None:
                    raise ActionError(f"conversation #{conversation.pk} does not exist")
                conversation = found
                if conversation.status == Status.CLOSED or not getattr(
                    conversation, "takes_customer_replies", True
                ):
                    raise ActionError("this conversation is closed; open a follow-up conversation")
            conversations.append(conversation)
            for attachment in item.attachments:
                if len(attachment.content) > limit:
                    raise ActionError(
                        f"attachment {attachment.filename!r} is {len(attachment.content)} "
                        f"bytes; the limit is {limit}"
                    )
        bulk.insert(opening)
        messages = []
        for item, conversation in zip(items, conversations, strict=True):
            text, html = _clean_body(item.body_text, item.body_html)
            item.message = Message(
                conversation=conversation,
                direction=Message.Direction.IN,
                channel=item.channel or conversation.channel,
                author_customer=conversation.customer,
                body_text=text,
                body_html=html,
                metadata=item.metadata or {},
                external_id=item.external_id[:255],
            )
            messages.append(item.message)
        bulk.insert(messages)
        files = []
        for item in items:
            for attachment in item.attachments:
                name = (attachment.filename or "attachment").replace("/", "_").replace("\\", "_")
                row = Attachment(
                    message=item.message,
                    filename=name[:200],
                    content_type=attachment.content_type,
                    size=len(attachment.content),
                )
                row.file.save(name[:200], ContentFile(attachment.content), save=False)
                files.append(row)
        bulk.insert(files)
        entries = []
        status_changes: dict[int, tuple[str, str]] = {}  # item index → (old, new)
        touched: dict[int, Conversation] = {}
        for index, (item, conversation) in enumerate(zip(items, conversations, strict=True)):
            customer = conversation.customer
            if item.opened:
                entries.append(
                    _entry(
                        customer,
                        "conversation_opened",
                        conversation,
                        channel=conversation.channel,
                        subject=conversation.subject,
                    )
                )
                continue
            old_status = conversation.status
            conversation.last_message_at = conversation.last_inbound_at = now
            if old_status in (Status.PENDING, Status.SOLVED, Status.ON_HOLD):
                conversation.status = Status.OPEN
                conversation.solved_at = None
                status_changes[index] = (old_status, conversation.status)
            if conversation.pk in locked:
                touched[conversation.pk] = conversation
            if item.timeline:
                entries.append(
                    _entry(
                        customer,
                        "message_received",
                        conversation,
                        channel=item.message.channel,  # type: ignore[union-attr]
                        excerpt=item.message.body_text[:120],  # type: ignore[union-attr]
                    )
                )
            if index in status_changes:
                old, new = status_changes[index]
                entries.append(
                    _entry(
                        customer,
                        "status_changed",
                        conversation,
                        old=old,
                        new=new,
                        reason="customer_replied",
                    )
                )
        if touched:
            for conversation in touched.values():
                conversation.updated_at = now
            # The same times for all: one plain UPDATE (bulk_update's CASE per row and
            # field cost more than the rest of a batch); the reopened ones' status on top.
            Conversation.objects.filter(pk__in=list(touched)).update(
                last_message_at=now, last_inbound_at=now, updated_at=now
            )
            reopened = {conversations[index].pk: conversations[index] for index in status_changes}
            if reopened:
                Conversation.objects.bulk_update(list(reopened.values()), ["status", "solved_at"])
        bulk.insert(entries)
        for index, (item, conversation) in enumerate(zip(items, conversations, strict=True)):
            message = item.message
            assert message is not None
            if item.opened:
                emit(
                    ConversationOpened(
                        actor_id=None,
                        customer_id=conversation.customer_id,
                        channel=conversation.channel,
                        **_ids(conversation),
                    )
                )
            emit(
                MessageAdded(
                    actor_id=None,
                    message_id=message.pk,
                    channel=message.channel,
                    direction="in",
                    **_ids(conversation),
                )
            )
            if index in status_changes:
                old, new = status_changes[index]
                emit(StatusChanged(actor_id=None, old=old, new=new, **_ids(conversation)))
            item.conversation = conversation


def _entry(customer: Customer, kind: str, conversation: Conversation, **data: Any) -> Any:
    """An unsaved timeline entry, as :func:`kefu.customers.timeline.record` writes it."""
    from kefu.customers.models import TimelineEntry

    return TimelineEntry(customer=customer, conversation=conversation, kind=kind, data=data)
