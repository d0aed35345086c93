"""Visitor lines at socket speed: relayed to the agent at once, stored by group commit.

A line from a visitor's socket is checked on the spot (the chat is live, the text fits, the
visitor is within the rate limit) and goes straight to the agent's sockets as a provisional
``chat.line`` frame. It is stored by one writer per process, which takes every line that
arrived while the previous batch was being written and stores them in one transaction
(:func:`kefu.livechat.actions.store_lines`). Only after that commit is the visitor sent the
``ack`` (so an acknowledged line is stored), the agent the ``chat`` frame with the message's
id, and every tab of the visitor the ``msg`` echo. A line that could not be stored is
retracted from the agent (``chat.retract``) and the visitor told why; the widget sends any
unacknowledged line again with the same ``cid``, which stores it once.

Nothing here waits on the database while reading a socket: the socket keeps being read (and
its keep-alive pongs with it) while the writer is busy; a socket with too many lines waiting
gets ``rate_limited``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.conversations.models import Message
from kefu.core import realtime
from kefu.core.html import text_to_html
from kefu.livechat import actions
from kefu.livechat.actions import ChatError, Line
from kefu.livechat.payloads import message_object

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # lines in one transaction
MAX_WAITING = 5000  # lines waiting for the writer in one process; more are refused
REMEMBERED = 20000  # recently stored (visitor, cid) → id, to answer re-sends without a query
# The sockets' event loop shares the interpreter lock with the database thread: while a batch
# is written, the loop gets its turn every "switch interval" (5 ms by default). A shorter one
# lets lines be relayed while the writer works, for a little more switching.
SWITCH_INTERVAL = 0.001  # seconds

Outcome = Message | int | ChatError


@dataclass
class _Pending:
    line: Line
    future: asyncio.Future[Outcome]


@dataclass
class Writer:
    """One per process (and event loop): the queue of lines and the task that stores them."""

    loop: asyncio.AbstractEventLoop
    queue: list[_Pending] = field(default_factory=list)
    inflight: dict[tuple[int, str], asyncio.Future[Outcome]] = field(default_factory=dict)
    stored: OrderedDict[tuple[int, str], int] = field(default_factory=OrderedDict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    batches: int = 0
    lines: int = 0

    def known(self, visitor_id: int, cid: str) -> asyncio.Future[Outcome] | int | None:
        """A line of this ``cid`` already stored (its id) or on its way (its future)."""
        key = (visitor_id, cid)
        return self.inflight.get(key) or self.stored.get(key)

    def submit(self, line: Line) -> asyncio.Future[Outcome]:
        key = (line.visitor_id, line.cid)
        if key in self.inflight:
            return self.inflight[key]
        if len(self.queue) >= MAX_WAITING:
            raise ChatError("rate_limited", _("Too many messages at once; wait a few seconds."))
        future: asyncio.Future[Outcome] = self.loop.create_future()
        self.inflight[key] = future
        self.queue.append(_Pending(line, future))
        self.wake.set()
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run(), name="kefu-chat-writer")
        return future

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes: list[Outcome] = await database_sync_to_async(actions.store_lines)(
                [p.line for p in batch]
            )
        except Exception:
            logger.exception("could not store %d chat lines", len(batch))
            error = ChatError("retry", _("This message was not sent; it will be sent again."))
            outcomes = [error] * len(batch)
        self.batches += 1
        self.lines += len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            key = (pending.line.visitor_id, pending.line.cid)
            self.inflight.pop(key, None)
            if isinstance(outcome, Message | int):
                self.stored[key] = outcome if isinstance(outcome, int) else outcome.pk
                if len(self.stored) > REMEMBERED:
                    self.stored.popitem(last=False)
            if not pending.future.done():
                pending.future.set_result(outcome)


_writers: dict[int, Writer] = {}


def writer() -> Writer:
    loop = asyncio.get_running_loop()
    found = _writers.get(id(loop))
    if found is None or found.loop is not loop or loop.is_closed():
        found = _writers[id(loop)] = Writer(loop)
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    return found


class RateWindow:
    """The visitor rate limit, counted on the socket's side before a line is relayed (the
    writer counts again in the shared cache, which holds across processes)."""

    def __init__(self) -> None:
        self.window = -1
        self.count = 0

    def hit(self) -> bool:
        limit, seconds = actions.RATE_LIMIT
        window = int(time.time() // seconds)
        if window != self.window:
            self.window, self.count = window, 0
        self.count += 1
        return self.count <= limit


_rates: OrderedDict[int, RateWindow] = OrderedDict()


def rate_ok(visitor_id: int) -> bool:
    window = _rates.get(visitor_id)
    if window is None:
        window = _rates[visitor_id] = RateWindow()
        if len(_rates) > REMEMBERED:
            _rates.popitem(last=False)
    return window.hit()


def provisional(line: Line) -> dict[str, Any]:
    """The message object of a line not stored yet (``id`` null)."""
    return {
        "id": None,
        "cid": line.cid,
        "from": "visitor",
        "author": "",
        "text": line.text,
        "html": text_to_html(line.text),
        "at": timezone.now().isoformat(),
        "attachments": [],
    }


async def group_send(layer: Any, group: str, frame: dict[str, Any], kind: str) -> None:
    try:
        await layer.group_send(group, {"type": kind, "frame": frame})
    except Exception:  # a layer hiccup (Redis restarting): clients fill gaps from the database
        logger.warning("could not send %s to %s", frame.get("op"), group, exc_info=True)


async def to_agent(layer: Any, agent_id: int, frame: dict[str, Any]) -> None:
    await group_send(layer, realtime.agent_group(agent_id), frame, "workspace.frame")


async def after_store(
    layer: Any,
    line: Line,
    future: asyncio.Future[Outcome],
    *,
    site_key: str,
    visitor_group: str,
    relayed_to: int | None,
    reply: Callable[[dict[str, Any]], Any],
    resent: bool = False,
) -> None:
    """Once the line's batch is committed: ack it, echo it, give the agent its id.
    ``resent``: the same ``cid`` again while the first was being stored: an ack only."""
    outcome = await future
    if resent and isinstance(outcome, Message):
        outcome = outcome.pk
    if isinstance(outcome, ChatError):
        if relayed_to is not None:
            await to_agent(
                layer,
                relayed_to,
                {"op": "chat.retract", "conversation": line.conversation_id, "cid": line.cid},
            )
        await reply({"op": "error", "code": outcome.code, "message": str(outcome), "cid": line.cid})
        return
    if isinstance(outcome, int):  # a re-sent cid: already stored, echoed and delivered
        await reply({"op": "ack", "cid": line.cid, "id": outcome})
        return
    await reply({"op": "ack", "cid": line.cid, "id": outcome.pk})
    payload = message_object(outcome, site_key, attachments=False)
    await group_send(layer, visitor_group, {"op": "msg", "message": payload}, "chat.frame")
    assignee = outcome.conversation.assignee_id
    if assignee is not None:
        frame = {"op": "chat", "conversation": line.conversation_id, "message": payload}
        if assignee == relayed_to:
            frame["relayed"] = True
        await to_agent(layer, assignee, frame)
