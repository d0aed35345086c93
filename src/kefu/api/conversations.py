"""``/api/conversations``: the agent's view of conversations, and every change to them.

Each handler parses, fetches through ``access_conversation`` (404 for what the agent may not
see), calls one action and renders. Actions refuse bad requests with ActionError (400).
"""

from __future__ import annotations

from typing import Annotated, Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest
from ninja import Path, Query, Router, Status

from kefu.api.auth import agent
from kefu.api.pagination import paginate
from kefu.api.schemas import (
    MAX_ID,
    AssignIn,
    ConversationDetail,
    ConversationFilters,
    ConversationIn,
    ConversationList,
    ConversationOut,
    CustomerRefIn,
    InboundIn,
    LinkIn,
    MessageOut,
    NoteIn,
    Page,
    PriorityIn,
    ReplyIn,
    ResolveIn,
    SplitIn,
    StatusIn,
    TagsIn,
)
from kefu.conversations import actions, complaints, links, split
from kefu.conversations.access import access_conversation, visible_conversations
from kefu.conversations.models import Conversation, Message
from kefu.customers.actions import resolve_customer
from kefu.customers.models import Customer
from kefu.staff.models import Team

router = Router(tags=["conversations"])

ConversationId = Annotated[int, Path(ge=1, le=MAX_ID)]


def listing(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """What :class:`~kefu.api.schemas.ConversationOut` reads, loaded for a whole page at once."""
    return queryset.select_related(
        "customer", "team", "assignee", "assignee__agent_profile"
    ).prefetch_related("tags", "customer__contact_points")


def summary(pk: int) -> Conversation:
    return listing(Conversation.objects.all()).get(pk=pk)


def with_messages(conversation: Conversation) -> Conversation:
    """Load what :class:`~kefu.api.schemas.ConversationDetail` reads onto ``conversation``
    (fetched by ``access_conversation``, which already joins customer, team and assignee)."""
    messages = Message.objects.select_related(
        "author_agent__agent_profile", "author_customer"
    ).prefetch_related("attachments", "author_customer__contact_points")
    prefetch_related_objects(
        [conversation], "tags", "customer__contact_points", Prefetch("messages", messages)
    )
    return conversation


def _team(pk: int | None) -> Team | None:
    if pk is None:
        return None
    team = Team.objects.filter(pk=pk).first()
    if team is None:
        raise Http404(f"no team with id {pk}")
    return team


def _customer(pk: int) -> Customer:
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        raise Http404(f"no customer with id {pk}")
    return customer


def _user(pk: int | None) -> Any:
    if pk is None:
        return None
    user = get_user_model().objects.select_related("agent_profile").filter(pk=pk).first()
    if user is None:
        raise Http404(f"no user with id {pk}")
    return user


@router.get("", response=ConversationList, summary="List conversations")
def list_conversations(
    request: HttpRequest, filters: Query[ConversationFilters], page: Query[Page]
) -> dict[str, Any]:
    """Conversations the agent may see, most recent activity first."""
    user = agent(request)
    conversations = visible_conversations(user)
    for field in ("status", "priority", "kind", "channel"):
        value = getattr(filters, field)
        if value is not None:
            conversations = conversations.filter(**{field: value})
    if filters.team is not None:
        conversations = conversations.filter(team_id=filters.team)
    if filters.assignee == "me":
        conversations = conversations.filter(assignee_id=user.pk)
    elif filters.assignee == "none":
        conversations = conversations.filter(assignee__isnull=True)
    elif filters.assignee:
        conversations = conversations.filter(assignee_id=int(filters.assignee))
    if filters.customer is not None:
        conversations = conversations.filter(customer_id=filters.customer)
    if filters.tag:
        conversations = conversations.filter(tags__name=actions.normalize_tag(filters.tag))
    return paginate(listing(conversations), page)


@router.post("", response={201: ConversationDetail}, summary="Open a conversation")
def open_conversation(request: HttpRequest, payload: ConversationIn) -> Status[Conversation]:
    """Open a conversation for an existing customer (``customer_id``) or for whoever has this
    email / phone (``customer``; created if unknown), with ``body`` as the first message."""
    user = agent(request)
    team = _team(payload.team_id)
    with transaction.atomic():  # an unknown customer is not created if opening fails
        if payload.customer_id is not None:
            customer = _customer(payload.customer_id)
        else:
            ref = payload.customer or CustomerRefIn()  # the schema requires one of the two
            customer = resolve_customer(email=ref.email, phone=ref.phone, name=ref.name, actor=user)
        conversation = actions.open_conversation(
            customer=customer,
            channel=payload.channel.value,
            subject=payload.subject,
            body_text=payload.body,
            actor=user,
            team=team,
            priority=payload.priority.value,
            kind=payload.kind.value,
            language=payload.language,
        )
    return Status(201, with_messages(summary(conversation.pk)))


@router.get("/{conversation_id}", response=ConversationDetail, summary="Show a conversation")
def get_conversation(request: HttpRequest, conversation_id: ConversationId) -> Conversation:
    """The conversation with every message, internal notes included."""
    return with_messages(access_conversation(agent(request), conversation_id))


@router.post("/{conversation_id}/reply", response={201: MessageOut}, summary="Reply")
def reply(
    request: HttpRequest, conversation_id: ConversationId, payload: ReplyIn
) -> Status[Message]:
    """Answer the customer (the conversation's channel delivers it); optionally set the status
    in the same step. Whoever answers an unassigned conversation first gets it."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    status = payload.status.value if payload.status is not None else None
    message = actions.send_reply(conversation, agent=user, body_text=payload.body, status=status)
    return Status(201, message)


@router.post("/{conversation_id}/note", response={201: MessageOut}, summary="Add a note")
def note(request: HttpRequest, conversation_id: ConversationId, payload: NoteIn) -> Status[Message]:
    """An internal note: agents see it, the customer never does."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    return Status(201, actions.add_note(conversation, agent=user, body_text=payload.body))


@router.post(
    "/{conversation_id}/messages", response={201: MessageOut}, summary="Record a customer message"
)
def receive(
    request: HttpRequest, conversation_id: ConversationId, payload: InboundIn
) -> Status[Message]:
    """A message from the customer, as a channel integration received it. A solved or waiting
    conversation reopens; a closed one refuses (open a follow-up)."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    channel = payload.channel.value if payload.channel is not None else None
    message = actions.receive_message(
        conversation,
        body_text=payload.body,
        body_html=payload.body_html,
        channel=channel,
        metadata=payload.metadata,
        external_id=payload.external_id,
        actor=user,
    )
    return Status(201, message)


@router.post("/{conversation_id}/assign", response=ConversationOut, summary="Assign")
def assign(request: HttpRequest, conversation_id: ConversationId, payload: AssignIn) -> Any:
    """Give the conversation to an agent and / or a team. A field left out keeps its value;
    ``null`` clears it (unassigned, general queue)."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    given = payload.model_fields_set
    assignee = _user(payload.assignee_id) if "assignee_id" in given else conversation.assignee
    team = _team(payload.team_id) if "team_id" in given else conversation.team
    actions.assign(conversation, actor=user, assignee=assignee, team=team)
    return summary(conversation.pk)


@router.post("/{conversation_id}/status", response=ConversationOut, summary="Set the status")
def set_status(request: HttpRequest, conversation_id: ConversationId, payload: StatusIn) -> Any:
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    actions.set_status(conversation, actor=user, status=payload.status.value)
    return summary(conversation.pk)


@router.post(
    "/{conversation_id}/acknowledge", response=ConversationOut, summary="Acknowledge a complaint"
)
def acknowledge(request: HttpRequest, conversation_id: ConversationId) -> Any:
    """A person confirms they have read the complaint (required before it can be solved)."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    complaints.acknowledge_complaint(conversation, actor=user)
    return summary(conversation.pk)


@router.post("/{conversation_id}/resolve", response=ConversationOut, summary="Resolve a complaint")
def resolve(request: HttpRequest, conversation_id: ConversationId, payload: ResolveIn) -> Any:
    """Record a complaint's resolution note and root cause, then (``solve``) solve it."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    complaints.resolve_complaint(
        conversation,
        actor=user,
        note=payload.note,
        root_cause=payload.root_cause_id,
        solve=payload.solve,
    )
    return summary(conversation.pk)


@router.post("/{conversation_id}/split", response={201: ConversationOut}, summary="Split")
def split_off(
    request: HttpRequest, conversation_id: ConversationId, payload: SplitIn
) -> Status[Conversation]:
    """Move a message and every later one into a new conversation of the same customer."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    new = split.split_conversation(
        conversation, actor=user, message_id=payload.message_id, subject=payload.subject
    )
    return Status(201, summary(new.pk))


@router.post("/{conversation_id}/links", response={204: None}, summary="Link a related one")
def link(request: HttpRequest, conversation_id: ConversationId, payload: LinkIn) -> Status[None]:
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    other = access_conversation(user, payload.other_id)
    links.link_conversations(conversation, other, actor=user)
    return Status(204, None)


@router.post("/{conversation_id}/priority", response=ConversationOut, summary="Set the priority")
def set_priority(request: HttpRequest, conversation_id: ConversationId, payload: PriorityIn) -> Any:
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    actions.set_priority(conversation, actor=user, priority=payload.priority.value)
    return summary(conversation.pk)


@router.post("/{conversation_id}/tags", response=ConversationOut, summary="Add / remove tags")
def tags(request: HttpRequest, conversation_id: ConversationId, payload: TagsIn) -> Any:
    """Tags are normalised (lower case, single spaces); adding a tag that is there or removing
    one that is not changes nothing."""
    user = agent(request)
    conversation = access_conversation(user, conversation_id)
    actions.tag(conversation, actor=user, add=payload.add, remove=payload.remove)
    return summary(conversation.pk)
