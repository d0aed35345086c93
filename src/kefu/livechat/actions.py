"""Live chat's doors: visitors, chat starts, messages, routing, transfers, ratings.

Changes to the conversation itself go through :mod:`kefu.conversations.actions`; this module
keeps the chat's own state (queue, agent, read marks) in step and tells the browsers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kefu.conversations import actions as conversation_actions
from kefu.conversations.actions import NewAttachment
from kefu.conversations.models import OPEN_STATUSES, Channel, Conversation, Message, Status
from kefu.core import ratelimit
from kefu.core.errors import ActionError
from kefu.customers.actions import resolve_customer
from kefu.customers.identity import survivor
from kefu.customers.timeline import record
from kefu.livechat import push, routing
from kefu.livechat.identity import HostIdentity
from kefu.livechat.models import ChatSession, FieldMode, Visitor, Widget
from kefu.staff.access import agent_profile
from kefu.staff.models import Team

MAX_TEXT = 2000
RATE_LIMIT = (20, 10)  # messages per seconds, per visitor
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIVE = (ChatSession.State.QUEUED, ChatSession.State.ACTIVE)


class ChatError(ActionError):
    """An action error with a machine-readable code for the widget."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Visitors -----------------------------------------------------------------------------------


def visitor_for(
    widget: Widget,
    current: Visitor | None,
    identity: HostIdentity | None,
    *,
    language: str = "",
) -> Visitor:
    """The visitor this browser is: the one its token names, unless the host site now says
    someone else is logged in (or nobody, after a verified user): then a fresh visitor, so the
    next person at a shared computer never sees the last one's chats."""
    visitor = current
    if (
        visitor is not None
        and visitor.verified
        and (identity is None or identity.external_id != visitor.external_id)
    ):
        visitor = None
    if visitor is None:
        visitor = Visitor.objects.create(widget=widget, language=language[:10])
    if identity is not None and not visitor.verified:
        customer = None
        if identity.email or identity.phone:
            customer = resolve_customer(
                email=identity.email,
                phone=identity.phone,
                visitor_id=str(visitor.uuid),
                name=identity.name,
            )
        visitor.external_id = identity.external_id
        visitor.verified = True
        visitor.customer = customer
        visitor.save(update_fields=["external_id", "verified", "customer"])
    Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=timezone.now())
    return visitor


ENDED_CHAT_SHOWN = timedelta(hours=12)


def current_session(visitor: Visitor) -> ChatSession | None:
    """The visitor's live chat, or the one that ended in the last hours (to rate it or get the
    transcript); an older chat is history, and the widget starts afresh."""
    session = (
        ChatSession.objects.filter(visitor=visitor)
        .select_related("conversation", "widget")
        .order_by("-id")
        .first()
    )
    if (
        session is not None
        and session.state == ChatSession.State.ENDED
        and session.ended_at is not None
        and session.ended_at < timezone.now() - ENDED_CHAT_SHOWN
    ):
        return None
    return session


# Starting a chat ----------------------------------------------------------------------------


def _check_form(widget: Widget, name: str, email: str, phone: str) -> None:
    for mode, value, label in (
        (widget.ask_name, name, _("name")),
        (widget.ask_email, email, _("email")),
        (widget.ask_phone, phone, _("phone")),
    ):
        if mode == FieldMode.REQUIRED and not value:
            raise ChatError("invalid", _("Please fill in: %(field)s") % {"field": label})
    if email and not EMAIL.match(email):
        raise ChatError("invalid", _("This is not an email address."))
    if phone and len(re.sub(r"\D", "", phone)) < 5:
        raise ChatError("invalid", _("This is not a phone number."))


def _text(value: Any, limit: int) -> str:
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def start_chat(
    widget: Widget,
    visitor: Visitor,
    *,
    name: str = "",
    email: str = "",
    phone: str = "",
    topic: str = "",
    text: str = "",
    page_url: str = "",
) -> ChatSession:
    """Open a chat with the visitor's first message and queue it. A visitor has at most one
    live chat: a second start (a double click, two tabs at once) returns the first."""
    name, email, phone = _text(name, 200), _text(email, 254), _text(phone, 40)
    topic, page_url = _text(topic, 100), _text(page_url, 500)
    text = (text or "").strip()
    if not widget.active:
        raise ChatError("closed", _("This chat is switched off."))
    if not text:
        raise ChatError("invalid", _("Please write your question first."))
    if len(text) > MAX_TEXT:
        raise ChatError("too_large", _("A message is at most %(n)s characters.") % {"n": MAX_TEXT})
    if topic and widget.topic_list and topic not in widget.topic_list:
        topic = ""
    if not visitor.verified:
        _check_form(widget, name, email, phone)
    with transaction.atomic():
        # The visitor's row is the lock that makes two simultaneous starts one chat.
        visitor = Visitor.objects.select_for_update().get(pk=visitor.pk)
        live = (
            ChatSession.objects.filter(visitor=visitor, state__in=LIVE)
            .select_related("conversation", "widget")
            .first()
        )
        if live is not None:
            return live
        customer = survivor(visitor.customer) if visitor.customer else None
        if customer is None or not visitor.verified:
            customer = resolve_customer(
                email=email, phone=phone, visitor_id=str(visitor.uuid), name=name
            )
        if visitor.customer_id != customer.pk:
            visitor.customer = customer
            visitor.save(update_fields=["customer"])
        subject = topic or text.splitlines()[0][:80]
        conversation = conversation_actions.open_conversation(
            customer=customer,
            channel=Channel.CHAT,
            subject=subject,
            body_text=text,
            team=widget.team,
            language=visitor.language,
            metadata={"cid": "start", "widget": widget.pk, "page_url": page_url},
            external_id=f"chat:{visitor.uuid}:start",
        )
        session = ChatSession.objects.create(
            conversation=conversation,
            widget=widget,
            visitor=visitor,
            rank=routing.rank_for(customer),
            verified=visitor.verified,
            topic=topic,
            page_url=page_url,
        )
        record(customer, "chat_started", conversation=conversation, widget=widget.name)
    transaction.on_commit(dispatch)
    return session


def leave_message(
    widget: Widget,
    visitor: Visitor | None,
    *,
    name: str = "",
    email: str = "",
    phone: str = "",
    text: str = "",
) -> Conversation:
    """Nobody can chat now: the visitor's message becomes a conversation answered by email."""
    name, email, phone = _text(name, 200), _text(email, 254), _text(phone, 40)
    text = (text or "").strip()
    if not text:
        raise ChatError("invalid", _("Please write your message first."))
    if len(text) > MAX_TEXT * 5:
        raise ChatError(
            "too_large", _("A message is at most %(n)s characters.") % {"n": MAX_TEXT * 5}
        )
    if not email or not EMAIL.match(email):
        raise ChatError("invalid", _("An email address is needed so that we can answer."))
    if phone and len(re.sub(r"\D", "", phone)) < 5:
        raise ChatError("invalid", _("This is not a phone number."))
    customer = resolve_customer(
        email=email,
        phone=phone,
        visitor_id=str(visitor.uuid) if visitor is not None else "",
        name=name,
    )
    return conversation_actions.open_conversation(
        customer=customer,
        channel=Channel.CHAT,
        subject=text.splitlines()[0][:80],
        body_text=text,
        team=widget.team,
        language=visitor.language if visitor is not None else "",
        # The email channel answers conversations marked this way by email.
        metadata={"reply_by": "email", "offline": True, "widget": widget.pk},
    )


# Messages -----------------------------------------------------------------------------------


def check_line(state: str, text: Any, *, attachments: bool = False) -> str:
    """The line's text, stripped, or the ChatError that refuses it (before anything is
    stored or relayed)."""
    text = text.strip() if isinstance(text, str) else ""
    if len(text) > MAX_TEXT:
        raise ChatError("too_large", _("A message is at most %(n)s characters.") % {"n": MAX_TEXT})
    if not text and not attachments:
        raise ChatError("invalid", _("A message cannot be empty."))
    if state not in LIVE:
        raise ChatError("closed", _("This chat has ended; start a new one."))
    return text


def clean_cid(cid: Any) -> str:
    return cid if isinstance(cid, str) and 0 < len(cid) <= 64 else uuid.uuid4().hex


def line_key(visitor_id: int, cid: str) -> str:
    """The message's ``external_id``: what makes a re-sent ``cid`` the same message."""
    return f"chat:{visitor_id}:{cid}"


def _rate_ok(visitor_id: int) -> bool:
    limit, window = RATE_LIMIT
    return ratelimit.hit("chat-msg", str(visitor_id), limit, window)


def _rate_error() -> ChatError:
    return ChatError("rate_limited", _("Too many messages at once; wait a few seconds."))


def visitor_message(
    session: ChatSession,
    *,
    text: str,
    cid: str = "",
    attachments: Sequence[NewAttachment] = (),
) -> Message:
    """A line from the visitor. The same ``cid`` sent again (after a reconnect) is the same
    message, not a new one."""
    cid = clean_cid(cid)
    text = check_line(session.state, text, attachments=bool(attachments))
    external_id = line_key(session.visitor_id, cid)
    existing = Message.objects.filter(
        conversation_id=session.conversation_id, external_id=external_id
    ).first()
    if existing is not None:
        return existing
    if not _rate_ok(session.visitor_id):
        raise _rate_error()
    if not text:
        text = ", ".join(a.filename for a in attachments)
    try:
        return conversation_actions.receive_message(
            # The action locks and re-reads the row: its key is all it needs.
            Conversation(pk=session.conversation_id),
            body_text=text,
            channel=Channel.CHAT,
            metadata={"cid": cid},
            external_id=external_id,
            attachments=attachments,
            timeline=False,
        )
    except ActionError as error:
        raise ChatError("closed", str(error)) from error


@dataclass(frozen=True)
class Line:
    """A visitor's text line as it came off their socket (already checked by
    :func:`check_line`), waiting to be stored by :func:`store_lines`."""

    session_id: int
    conversation_id: int
    visitor_id: int
    text: str
    cid: str
    language: str = ""


def store_lines(lines: Sequence[Line]) -> list[Message | int | ChatError]:
    """Store visitor lines that arrived within the same few milliseconds in one transaction
    (group commit), each as :func:`visitor_message` would store it: one read of the chats'
    states and of the ``cid``s already stored, then the new lines through
    :func:`kefu.conversations.actions.receive_lines`. For each line, in order: the new
    message, the id of the message a re-sent ``cid`` already is, or the error that refused
    it (nothing stored for it).

    The caller sends the frames of the new messages (the chat listener stays quiet for
    them) once this returns, i.e. after the commit."""
    states = dict(
        ChatSession.objects.filter(pk__in={line.session_id for line in lines}).values_list(
            "pk", "state"
        )
    )
    stored: dict[str, int] = dict(
        Message.objects.filter(
            conversation_id__in={line.conversation_id for line in lines},
            external_id__in={line_key(line.visitor_id, line.cid) for line in lines},
        ).values_list("external_id", "pk")
    )
    results: list[Message | int | ChatError | None] = [None] * len(lines)
    accepted: dict[str, int] = {}  # external id → index of the line that stores it
    for i, line in enumerate(lines):
        key = line_key(line.visitor_id, line.cid)
        if key in stored:
            results[i] = stored[key]
            continue
        if key in accepted:
            continue  # the same cid twice in one batch: filled in below
        with translation.override(line.language or None):
            try:
                check_line(states.get(line.session_id, ""), line.text)
            except ChatError as error:
                results[i] = error
                continue
        accepted[key] = i
    # The rate limit, shared by every process, counts the batch's lines in one go.
    limit, window = RATE_LIMIT
    counted = list(accepted.items())
    within = ratelimit.hit_many(
        "chat-msg", [str(lines[i].visitor_id) for _, i in counted], limit, window
    )
    for (key, i), ok in zip(counted, within, strict=True):
        if not ok:
            with translation.override(lines[i].language or None):
                results[i] = _rate_error()
            del accepted[key]
    order = list(accepted.values())
    new: list[Message] = []
    try:
        with transaction.atomic():
            outcomes = _receive([lines[i] for i in order])
            for i, outcome in zip(order, outcomes, strict=True):
                if isinstance(outcome, Message):
                    new.append(outcome)
                    results[i] = outcome
                else:
                    with translation.override(lines[i].language or None):
                        results[i] = ChatError("closed", str(outcome))
            push.sent_by_caller(m.pk for m in new)  # before the commit runs the listeners
    except BaseException:
        push.sent_by_caller((m.pk for m in new), add=False)
        raise
    for i, line in enumerate(lines):
        if results[i] is None:  # a repeated cid of this batch
            first = results[accepted[line_key(line.visitor_id, line.cid)]]
            results[i] = first.pk if isinstance(first, Message) else first
    return [r for r in results if r is not None]


def _receive(lines: Sequence[Line]) -> list[Message | ActionError]:
    """The lines through :func:`kefu.conversations.actions.receive_many` (a few queries for
    the lot); when it refuses the batch (a chat's conversation was closed meanwhile), one
    by one, so that only the refused line fails."""
    items = [
        conversation_actions.Inbound(
            conversation=Conversation(pk=line.conversation_id),
            body_text=line.text,
            channel=Channel.CHAT,
            metadata={"cid": line.cid},
            external_id=line_key(line.visitor_id, line.cid),
            timeline=False,
        )
        for line in lines
    ]
    if not items:
        return []
    try:
        with transaction.atomic():
            conversation_actions.receive_many(items)
        return [item.message for item in items if item.message is not None]
    except ActionError:
        pass
    outcomes: list[Message | ActionError] = []
    for item in items:
        try:
            outcomes.append(
                conversation_actions.receive_message(
                    item.conversation,
                    body_text=item.body_text,
                    channel=Channel.CHAT,
                    metadata=item.metadata,
                    external_id=item.external_id,
                    timeline=False,
                )
            )
        except ActionError as error:
            outcomes.append(error)
    return outcomes


def mark_read(session: ChatSession, *, by: str, message_id: int) -> None:
    """Visitor (``by="visitor"``) or agent has seen the chat up to ``message_id``."""
    field = "visitor_read_id" if by == "visitor" else "agent_read_id"
    if not isinstance(message_id, int) or message_id <= getattr(session, field):
        return
    updated = ChatSession.objects.filter(pk=session.pk, **{f"{field}__lt": message_id}).update(
        **{field: message_id}
    )
    if updated:
        setattr(session, field, message_id)
        transaction.on_commit(lambda: push.read(session, by=by, message_id=message_id))


def end_chat(session: ChatSession, *, by: str, actor: Any = None) -> ChatSession:
    """The chat is over (visitor left, agent ended it, or the conversation was solved).
    An open conversation is marked solved; the agent's place frees up for the queue."""
    with transaction.atomic():
        session = (
            ChatSession.objects.select_for_update()
            .select_related("conversation")
            .get(pk=session.pk)
        )
        if session.state == ChatSession.State.ENDED:
            return session
        session.state = ChatSession.State.ENDED
        session.ended_at = timezone.now()
        session.ended_by = by
        session.save(update_fields=["state", "ended_at", "ended_by"])
        record(
            session.conversation.customer,
            "chat_ended",
            actor=actor,
            conversation=session.conversation,
            by=by,
        )
        conversation = session.conversation
        if conversation.status in OPEN_STATUSES:
            conversation_actions.set_status(conversation, actor=actor, status=Status.SOLVED)
    transaction.on_commit(lambda: push.state(session))
    transaction.on_commit(dispatch)
    return session


def rate_chat(session: ChatSession, *, score: Any, comment: str = "") -> ChatSession:
    if session.state != ChatSession.State.ENDED:
        raise ChatError("invalid", _("A chat is rated after it ends."))
    if session.rating is not None:
        raise ChatError("invalid", _("This chat was already rated."))
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ChatError("invalid", _("A rating is a whole number from 1 to 5."))
    comment = (comment or "")[:2000] if isinstance(comment, str) else ""
    with transaction.atomic():
        updated = ChatSession.objects.filter(pk=session.pk, rating__isnull=True).update(
            rating=score, rating_comment=comment.strip()
        )
        if not updated:
            raise ChatError("invalid", _("This chat was already rated."))
        conversation_actions.rate(session.conversation, score=score, comment=comment, source="chat")
    session.rating, session.rating_comment = score, comment.strip()
    transaction.on_commit(lambda: push.state(session))
    return session


# Routing ------------------------------------------------------------------------------------


def _route_one(session_id: int) -> bool:
    """Give one queued chat to the best available agent; False when nobody can take it."""
    with transaction.atomic():
        session = (
            ChatSession.objects.select_for_update(skip_locked=True)
            .select_related("conversation")
            .filter(pk=session_id, state=ChatSession.State.QUEUED)
            .first()
        )
        if session is None:
            return True  # taken meanwhile
        conversation = session.conversation
        agent = routing.pick_agent(conversation.team_id)
        if agent is None:
            return False
        session.state = ChatSession.State.ACTIVE
        session.agent = agent
        session.accepted_at = timezone.now()
        session.save(update_fields=["state", "agent", "accepted_at"])
        conversation_actions.assign(
            conversation, actor=None, assignee=agent, team=conversation.team
        )
        transaction.on_commit(lambda: push.offered(session))
    return True


def dispatch() -> None:
    """Route every waiting chat that someone can take now, best customers first; tell the
    rest where they stand."""
    blocked: set[int | None] = set()
    for session_id, team_id in routing.waiting().values_list("pk", "conversation__team_id"):
        if team_id in blocked:
            continue
        if not _route_one(session_id):
            blocked.add(team_id)
    if blocked:
        for session in routing.waiting().select_related("conversation", "widget", "visitor"):
            push.state(session)


def sync_assignment(conversation_id: int, assignee_id: int | None) -> None:
    """Someone assigned a chat's conversation by hand (or a transfer): the chat follows."""
    session = (
        ChatSession.objects.filter(conversation_id=conversation_id, state__in=LIVE)
        .select_related("conversation", "widget")
        .first()
    )
    if session is None or session.agent_id == assignee_id:
        return
    if assignee_id is None:
        ChatSession.objects.filter(pk=session.pk).update(
            state=ChatSession.State.QUEUED, agent=None, accepted_at=None
        )
        session.state, session.agent_id = ChatSession.State.QUEUED, None
        dispatch()
    else:
        ChatSession.objects.filter(pk=session.pk).update(
            state=ChatSession.State.ACTIVE, agent_id=assignee_id, accepted_at=timezone.now()
        )
        session.state, session.agent_id = ChatSession.State.ACTIVE, assignee_id
        push.offered(session)


def transfer(
    session: ChatSession, *, actor: Any, to_agent: Any = None, to_team: Team | None = None
) -> ChatSession:
    """Hand the chat to a colleague (it stays in its team unless they are not in it) or back
    to a team's queue."""
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can do this")
    if session.state not in LIVE:
        raise ActionError("this chat has ended")
    conversation = session.conversation
    if to_agent is not None:
        profile = agent_profile(to_agent)
        if profile is None:
            raise ActionError(f"{to_agent} is not an active agent")
        team = to_team or conversation.team
        if (
            team is not None
            and not profile.sees_all_teams
            and not profile.teams.filter(pk=team.pk).exists()
        ):
            team = profile.teams.order_by("pk").first()
        conversation_actions.assign(conversation, actor=actor, assignee=to_agent, team=team)
    elif to_team is not None:
        conversation_actions.assign(conversation, actor=actor, assignee=None, team=to_team)
    else:
        raise ActionError("transfer to whom?")
    conversation_actions.add_note(
        conversation,
        agent=actor,
        body_text=f"→ {agent_profile(to_agent) if to_agent is not None else to_team}",
    )
    session.refresh_from_db()
    return session


def invite(session: ChatSession, *, actor: Any, supervisor: Any) -> None:
    """Ask a supervisor (or any colleague) to look at this chat; a note records it."""
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can do this")
    profile = agent_profile(supervisor)
    if profile is None:
        raise ActionError(f"{supervisor} is not an active agent")
    conversation_actions.add_note(session.conversation, agent=actor, body_text=f"+ {profile.name}")
    transaction.on_commit(lambda: push.invited(session, supervisor.pk, agent_profile(actor)))
