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

Where a batch is stored: in a web server (``kefu run``, :func:`use_writer_process`), by a
child process (:mod:`kefu.livechat.writer_process`), so that storing and the commit's
listeners run beside the relaying rather than taking turns with it for the interpreter lock;
elsewhere (tests driving consumers in-process), on the database thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import struct
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone
from django.utils.translation import gettext as _

import kefu
from kefu.core import realtime
from kefu.core.html import text_to_html
from kefu.livechat import actions, writer_process
from kefu.livechat.actions import ChatError, Line
from kefu.livechat.writer_process import Stored

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # lines in one transaction
MAX_WAITING = 5000  # lines waiting for the writer in one process; more are refused
REMEMBERED = 20000  # recently stored (visitor, cid) → id, to answer re-sends without a query
# The sockets' event loop shares the interpreter lock with the database thread: while a batch
# is written, the loop gets its turn every "switch interval" (5 ms by default). A shorter one
# lets lines be relayed while the writer works, for a little more switching.
SWITCH_INTERVAL = 0.001  # seconds
# Acks, echoes and stored frames of a batch go out this many lines at a time, the event loop
# reading sockets in between, so that a line arriving meanwhile is not relayed behind them.
ACK_CHUNK = 8

Outcome = Stored | int | ChatError
Store = Callable[[list[Line]], Awaitable[list[Outcome]]]


@dataclass
class _Pending:
    line: Line
    future: asyncio.Future[Outcome]


@dataclass
class Writer:
    """One per process (and event loop): the queue of lines and the task that stores them."""

    loop: asyncio.AbstractEventLoop
    store: Store | None = None  # default: on the database thread (:func:`store_here`)
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
        store = self.store or database_sync_to_async(store_here)
        try:
            outcomes = await store([p.line for p in batch])
        except Exception:
            logger.exception("could not store %d chat lines", len(batch))
            error = ChatError("retry", _("This message was not sent; it will be sent again."))
            outcomes = [error] * len(batch)
        self.batches += 1
        self.lines += len(batch)
        for i, (pending, outcome) in enumerate(zip(batch, outcomes, strict=True)):
            if i and i % ACK_CHUNK == 0:
                await asyncio.sleep(0)
            key = (pending.line.visitor_id, pending.line.cid)
            self.inflight.pop(key, None)
            if isinstance(outcome, Stored | int):
                self.stored[key] = outcome if isinstance(outcome, int) else outcome.id
                if len(self.stored) > REMEMBERED:
                    self.stored.popitem(last=False)
            if not pending.future.done():
                pending.future.set_result(outcome)


def store_here(lines: list[Line]) -> list[Outcome]:
    """A batch stored in this process (on the database thread)."""
    results = actions.store_lines(lines)
    return [_outcome(writer_process.outcome_of(r)) for r in results]


class WriterProcess:
    """The parent's side of :mod:`kefu.livechat.writer_process`: one child per web process,
    started at once and again after it died; a batch whose child died is refused with
    ``retry`` (the widget sends it again)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, environ: dict[str, str] | None = None
    ) -> None:
        self.loop = loop
        self.environ = environ  # the child's environment (default: this process's)
        self.process: asyncio.subprocess.Process | None = None
        self.starting: asyncio.Future[asyncio.subprocess.Process] | None = None
        self.waiting: dict[int, asyncio.Future[list[Any] | None]] = {}
        self.numbers = itertools.count(1)
        self.sends: set[asyncio.Task[Any]] = set()

    async def _child(self) -> asyncio.subprocess.Process:
        if self.process is not None and self.process.returncode is None:
            return self.process
        if self.starting is None or self.starting.done():
            self.starting = self.loop.create_future()
            try:
                process = await self._start()
            except BaseException as error:
                self.starting.set_exception(error)
                self.starting.exception()  # retrieved: the next batch tries again
                self.starting = None
                raise
            self.process = process
            self.starting.set_result(process)
            return process
        return await self.starting

    async def _start(self) -> asyncio.subprocess.Process:
        src = str(Path(kefu.__file__).resolve().parent.parent)  # this very tree of kefu
        environ = self.environ if self.environ is not None else dict(os.environ)
        env = {
            **environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [src, environ.get("PYTHONPATH")])),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kefu.livechat.writer_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        reader = self.loop.create_task(self._read(process), name="kefu-chat-writer-pipe")
        self.sends.add(reader)
        reader.add_done_callback(self.sends.discard)
        return process

    def start(self) -> None:
        task = self.loop.create_task(self._child())
        self.sends.add(task)
        task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[Any]) -> None:
        self.sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("could not start the chat writer process: %r", task.exception())

    async def store(self, lines: list[Line]) -> list[Outcome]:
        process = await self._child()
        assert process.stdin is not None
        number = next(self.numbers)
        future: asyncio.Future[list[Any] | None] = self.loop.create_future()
        self.waiting[number] = future
        try:
            process.stdin.write(writer_process.encode((number, lines)))
            await process.stdin.drain()
            results = await future
        finally:
            self.waiting.pop(number, None)
        if results is None:
            raise RuntimeError("the chat writer process could not store a batch")
        return [_outcome(r) for r in results]

    async def close(self) -> None:
        """End the child (it stops at the end of its pipe) and wait for it."""
        process = self.process
        if process is not None and process.stdin is not None:
            process.stdin.close()
            await process.wait()

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        header = writer_process.HEADER
        try:
            while True:
                (size,) = header.unpack(await process.stdout.readexactly(header.size))
                frame = writer_process.decode(await process.stdout.readexactly(size))
                if frame[0] == "stored":
                    future = self.waiting.get(frame[1])
                    if future is not None and not future.done():
                        future.set_result(frame[2])
                else:
                    self._forward(frame)
        except (asyncio.IncompleteReadError, ConnectionError, struct.error):
            pass
        except Exception:
            logger.exception("the chat writer process's pipe failed")
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
            if process is self.process:
                logger.warning("the chat writer process exited (%s)", process.returncode)
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the chat writer process exited"))

    def _forward(self, frame: tuple[str, list[str], dict[str, Any]]) -> None:
        """A publish of the child's listeners, sent on this process's layer (in order)."""
        from channels.layers import get_channel_layer

        kind, targets, message = frame
        layer = get_channel_layer()
        if layer is None:
            return
        if kind == "publish":
            if isinstance(layer, realtime.InMemoryChannelLayer):  # nobody else to tell
                targets = [g for g in targets if layer.groups.get(g)]
            if not targets:
                return
            send = _group_send_all(layer, targets, message)
        else:
            send = layer.send(targets[0], message)
        task = self.loop.create_task(send)
        self.sends.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[Any]) -> None:
        self.sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("could not forward a chat writer's publish: %r", task.exception())


async def _group_send_all(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    for group in groups:
        await layer.group_send(group, message)


def _outcome(result: Any) -> Outcome:
    if isinstance(result, tuple) and result and result[0] == "error":
        return ChatError(result[1], result[2])
    return result


_processes: dict[int, WriterProcess] = {}
_use_process = False


def use_writer_process() -> None:
    """Store lines in a child process (see :mod:`kefu.livechat.writer_process`); called by
    the web server at start-up, on its event loop, which also starts the child."""
    global _use_process
    _use_process = True
    writer()


_writers: dict[int, Writer] = {}


def writer() -> Writer:
    loop = asyncio.get_running_loop()
    found = _writers.get(id(loop))
    if found is None or found.loop is not loop or loop.is_closed():
        store: Store | None = None
        if _use_process:
            process = _processes[id(loop)] = WriterProcess(loop)
            process.start()
            store = process.store
        else:
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        found = _writers[id(loop)] = Writer(loop, store)
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
    if resent and isinstance(outcome, Stored):
        outcome = outcome.id
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
    await reply({"op": "ack", "cid": line.cid, "id": outcome.id})
    payload = outcome.message
    await group_send(layer, visitor_group, {"op": "msg", "message": payload}, "chat.frame")
    assignee = outcome.assignee_id
    if assignee is not None:
        frame = {"op": "chat", "conversation": line.conversation_id, "message": payload}
        if assignee == relayed_to:
            frame["relayed"] = True
        await to_agent(layer, assignee, frame)
