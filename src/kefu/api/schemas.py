"""Shapes of the REST API: what it reads (``*In``, filters) and what it renders (``*Out``).

Inputs are checked here (types, lengths, no NUL characters) so bad input is a 422, never a
database error; rules about the domain stay in the actions (their ActionError is a 400).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints, model_validator

from kefu.conversations.models import Channel, Kind, Message, Priority, Status
from kefu.customers.models import Tier

MAX_ID = 2**63 - 1  # the largest id a (big)integer column holds
MAX_LIMIT = 200
MAX_OFFSET = 10**9


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _json_without_nul(value: dict[str, Any]) -> dict[str, Any]:
    if "\\u0000" in json.dumps(value):
        raise ValueError("must not contain NUL characters")
    return value


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text = Annotated[str, AfterValidator(_no_nul)]
Line = Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_nul)]
Name = Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_nul)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_no_nul)]
Phone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_no_nul)]
TagName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_no_nul)]
Language = Annotated[str, StringConstraints(max_length=10), AfterValidator(_no_nul)]
Metadata = Annotated[dict[str, Any], AfterValidator(_json_without_nul)]


class Page(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


# ---- shared references ----------------------------------------------------------------------


class TeamRef(Schema):
    id: int
    name: str


class AgentRef(Schema):
    id: int
    username: str
    name: str

    @staticmethod
    def resolve_name(obj: Any) -> str:
        profile = getattr(obj, "agent_profile", None)
        return profile.name if profile is not None else obj.get_full_name() or obj.username


# ---- customers ------------------------------------------------------------------------------


class ContactPointOut(Schema):
    kind: str
    value: str
    verified: bool


class PreferenceOut(Schema):
    id: int
    kind: str
    value: str
    created_at: datetime


class CustomerNoteOut(Schema):
    id: int
    body: str
    author: AgentRef | None
    created_at: datetime


class CustomerSummary(Schema):
    """A customer as shown beside a conversation (needs ``contact_points`` prefetched)."""

    id: int
    name: str
    display_name: str
    tier: Tier
    is_vip: bool


class CustomerOut(CustomerSummary):
    contact_points: list[ContactPointOut]
    tags: list[str]
    organization: str | None
    created_at: datetime

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        return [tag.name for tag in obj.tags.all()]

    @staticmethod
    def resolve_organization(obj: Any) -> str | None:
        return obj.organization.name if obj.organization_id else None


class CustomerDetail(CustomerOut):
    birthday: date | None
    language: str
    timezone: str
    consent_email: bool
    consent_marketing: bool
    consent_sms: bool
    merged_into_id: int | None
    preferences: list[PreferenceOut]
    notes: list[CustomerNoteOut]


class CustomerList(Schema):
    count: int
    limit: int
    offset: int
    items: list[CustomerOut]


class CustomerFilters(Schema):
    q: Name | None = Field(None, description="part of the name or of an email / phone")
    tier: Tier | None = None
    tag: TagName | None = None


class CustomerIn(Schema):
    name: Name = ""
    email: Email = ""
    phone: Phone = ""
    tier: Tier | None = None


# ---- conversations --------------------------------------------------------------------------


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int


class AuthorOut(Schema):
    type: str = Field(description="customer, agent or system")
    id: int | None
    name: str


class MessageOut(Schema):
    id: int
    direction: str = Field(description="in (from the customer), out (reply) or note")
    channel: Channel
    author: AuthorOut
    body_text: str
    body_html: str
    external_id: str
    metadata: dict[str, Any]
    delivery: str
    attachments: list[AttachmentOut]
    created_at: datetime

    @staticmethod
    def resolve_author(obj: Message) -> dict[str, Any]:
        if obj.author_agent_id is not None:
            return {
                "type": "agent",
                "id": obj.author_agent_id,
                "name": AgentRef.resolve_name(obj.author_agent),
            }
        if obj.author_customer is not None:
            return {
                "type": "customer",
                "id": obj.author_customer_id,
                "name": obj.author_customer.display_name,
            }
        return {"type": "system", "id": None, "name": ""}


class ConversationOut(Schema):
    """A conversation in a list (needs the querysets of ``conversations.listing``)."""

    id: int
    reference: str
    subject: str
    status: Status
    priority: Priority
    kind: Kind
    channel: Channel
    language: str
    customer: CustomerSummary
    team: TeamRef | None
    assignee: AgentRef | None
    tags: list[str]
    merged_into_id: int | None
    split_from_id: int | None
    acknowledged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    first_responded_at: datetime | None
    solved_at: datetime | None

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        return [tag.name for tag in obj.tags.all()]


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class ConversationList(Schema):
    count: int
    limit: int
    offset: int
    items: list[ConversationOut]


class ConversationFilters(Schema):
    status: Status | None = None
    priority: Priority | None = None
    kind: Kind | None = None
    channel: Channel | None = None
    team: Id | None = Field(None, description="team id")
    assignee: str | None = Field(
        None,
        pattern=r"^(me|none|[1-9][0-9]{0,17})$",
        description='agent (user) id, "me" or "none" (unassigned)',
    )
    customer: Id | None = Field(None, description="customer id")
    tag: TagName | None = None


class CustomerRefIn(Schema):
    email: Email = ""
    phone: Phone = ""
    name: Name = ""


class ConversationIn(Schema):
    customer_id: Id | None = Field(None, description="an existing customer…")
    customer: CustomerRefIn | None = Field(
        None, description="…or an email and/or phone (and name) to find or create one"
    )
    subject: Line = ""
    body: Text = ""
    channel: Channel = Channel.API
    priority: Priority = Priority.NORMAL
    kind: Kind = Kind.QUESTION
    team_id: Id | None = None
    language: Language = ""

    @model_validator(mode="after")
    def _one_customer(self) -> ConversationIn:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give either customer_id or customer (email / phone / name)")
        return self


class ReplyIn(Schema):
    body: Text
    status: Status | None = Field(None, description="set in the same step, e.g. pending")


class NoteIn(Schema):
    body: Text


class InboundIn(Schema):
    body: Text = ""
    body_html: Text = ""
    channel: Channel | None = Field(None, description="defaults to the conversation's")
    external_id: Line = ""
    metadata: Metadata = Field(default_factory=dict)


class AssignIn(Schema):
    """Omit a field to keep its current value; null clears it."""

    assignee_id: Id | None = None
    team_id: Id | None = None


class StatusIn(Schema):
    status: Status


class PriorityIn(Schema):
    priority: Priority


class ResolveIn(Schema):
    """A complaint's resolution: a note and one of the root causes configured in the admin
    (Conversations → Root causes)."""

    note: str = Field(min_length=1, max_length=5000)
    root_cause_id: int = Field(ge=1, le=MAX_ID)
    solve: bool = True


class SplitIn(Schema):
    message_id: int = Field(ge=1, le=MAX_ID)
    subject: str = Field("", max_length=255)


class LinkIn(Schema):
    other_id: int = Field(ge=1, le=MAX_ID)


class TagsIn(Schema):
    add: list[TagName] = Field(default_factory=list, max_length=50)
    remove: list[TagName] = Field(default_factory=list, max_length=50)
