"""Typed domain events, sent only after the writing transaction commits.

Actions call :func:`emit`; listeners register with :func:`listen` (in their app's
``AppConfig.ready``). The spine never imports its listeners: analytics, SLA clocks, realtime
push and webhooks subscribe here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every event. ``actor_id`` is the user who caused it, or None for the system."""

    actor_id: int | None


@dataclass(frozen=True)
class ConversationEvent(Event):
    conversation_id: int
    team_id: int | None
    assignee_id: int | None


@dataclass(frozen=True)
class ConversationOpened(ConversationEvent):
    customer_id: int
    channel: str


@dataclass(frozen=True)
class MessageAdded(ConversationEvent):
    message_id: int
    direction: str  # "in", "out" or "note"
    channel: str = ""
    automatic: bool = False  # kefu's own reply (an automation rule's template): no answer yet


@dataclass(frozen=True)
class ConversationAssigned(ConversationEvent):
    previous_assignee_id: int | None
    previous_team_id: int | None


@dataclass(frozen=True)
class StatusChanged(ConversationEvent):
    old: str
    new: str


@dataclass(frozen=True)
class PriorityChanged(ConversationEvent):
    old: str
    new: str


@dataclass(frozen=True)
class KindChanged(ConversationEvent):
    old: str
    new: str


@dataclass(frozen=True)
class TagsChanged(ConversationEvent):
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConversationsMerged(ConversationEvent):
    source_id: int


@dataclass(frozen=True)
class ConversationSplit(ConversationEvent):
    """Messages of this conversation moved into a new one (``new_id``)."""

    new_id: int
    message_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ConversationsLinked(ConversationEvent):
    """This conversation was linked to (or, ``linked=False``, unlinked from) ``other_id``."""

    other_id: int
    linked: bool = True


@dataclass(frozen=True)
class ComplaintHandled(ConversationEvent):
    """A complaint was acknowledged by an agent, or its resolution recorded."""

    what: str  # "acknowledged" or "resolution"


@dataclass(frozen=True)
class Rated(ConversationEvent):
    score: int
    source: str  # "chat", "survey", …


@dataclass(frozen=True)
class CustomerChanged(Event):
    customer_id: int
    what: str  # "memory", "tier", "profile", "note"


@dataclass(frozen=True)
class CustomersMerged(Event):
    customer_id: int
    source_id: int


@dataclass(frozen=True)
class AgentDeactivated(Event):
    agent_id: int
    successor_id: int | None = None
    reassigned: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class AgentAvailabilityChanged(Event):
    """An agent's presence or chat capacity changed (chats may now be routed to them)."""

    agent_id: int
    presence: str
    capacity: int


@dataclass(frozen=True)
class ArticleChanged(Event):
    """A knowledge-base article was created, edited, published, archived or deleted."""

    article_id: int
    status: str  # "draft", "published", "archived" or "deleted"


@dataclass(frozen=True)
class SlaWarning(ConversationEvent):
    """A conversation passed the near-breach share of an SLA target (once per target)."""

    target: str  # "first_response", "next_response" or "resolution"
    due_at: datetime
    policy_id: int | None = None


@dataclass(frozen=True)
class SlaBreached(ConversationEvent):
    """A conversation passed an SLA due time unanswered or unresolved (once per target)."""

    target: str
    due_at: datetime
    policy_id: int | None = None


E = TypeVar("E", bound=Event)
Listener = Callable[[Any], None]

_listeners: dict[type[Event], list[Listener]] = defaultdict(list)
_collectors: dict[type[Event], list[Listener]] = defaultdict(list)


def listen(*event_types: type[E]) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Register the decorated function for these event types (and their subclasses)."""

    def register(fn: Callable[[E], None]) -> Callable[[E], None]:
        for event_type in event_types:
            if fn not in _listeners[event_type]:
                _listeners[event_type].append(fn)
        return fn

    return register


def collect(*event_types: type[E]) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Register the decorated function to see each event of these types as it is emitted,
    inside the writing transaction (so also events that then roll back). For listeners that
    gather a transaction's events and act once on its commit (``transaction.on_commit``);
    a collector only records, it never writes."""

    def register(fn: Callable[[E], None]) -> Callable[[E], None]:
        for event_type in event_types:
            if fn not in _collectors[event_type]:
                _collectors[event_type].append(fn)
        return fn

    return register


def dispatch(event: Event) -> None:
    """Call every listener of the event's type and its bases; one failing listener never
    stops the others (the write has already committed)."""
    for klass in type(event).__mro__:
        for fn in _listeners.get(klass, ()):
            try:
                fn(event)
            except Exception:
                logger.exception("listener %s failed on %r", fn, event)


@dataclass(frozen=True)
class Cause:
    """On whose behalf kefu acts when no user does (e.g. an automation rule).

    ``rule`` names the rule calling actions right now (the timeline shows it as the actor);
    ``chain`` lists the rule steps already taken in this chain of events. :func:`emit` carries
    the chain to the listeners of the events those actions cause, so rules reacting to their
    own consequences can be bounded (see ``kefu/service/automation.py``).
    """

    rule: str = ""
    chain: tuple[str, ...] = ()


_cause: ContextVar[Cause] = ContextVar("kefu_event_cause", default=Cause())  # noqa: B039


def current_cause() -> Cause:
    return _cause.get()


@contextmanager
def acting(rule: str, step: str) -> Iterator[Cause]:
    """Run actions on behalf of ``rule``; ``step`` joins the chain of the events they emit."""
    now = _cause.get()
    token = _cause.set(Cause(rule=rule, chain=(*now.chain, step)))
    try:
        yield _cause.get()
    finally:
        _cause.reset(token)


def _dispatch_in_chain(chain: tuple[str, ...], event: Event) -> None:
    token = _cause.set(Cause(chain=chain))  # listeners act for nobody until they say so
    try:
        dispatch(event)
    finally:
        _cause.reset(token)


def emit(event: Event) -> None:
    """Send ``event`` to its listeners once the current transaction commits (at once if none)."""
    chain = _cause.get().chain
    for klass in type(event).__mro__:
        for fn in _collectors.get(klass, ()):
            try:
                fn(event)
            except Exception:
                logger.exception("collector %s failed on %r", fn, event)
    transaction.on_commit(lambda: _dispatch_in_chain(chain, event), robust=True)
