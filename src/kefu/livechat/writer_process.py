"""The chat writer process: stores a web process's visitor lines off its interpreter lock.

A web server (``kefu run``) starts one child process running this module and hands it each
batch of lines over a pipe; the child stores the batch with
:func:`kefu.livechat.actions.store_lines` (the same one door as anywhere else), which also
runs the listeners of the commit (analytics, care, SLA, the push of conversation events),
and answers with each line's outcome. The web process's event loop thus relays lines from
visitor to agent without waiting for the database or sharing the interpreter lock with the
ORM and the listeners, and still acknowledges a line only after its commit.

The child has no sockets: what its listeners publish to channel-layer groups is handed back
to the parent (:class:`kefu.core.layers.ForwardingLayer`), which sends it on its own layer,
so the in-memory layer of the embedded default reaches the parent's sockets and the Redis
layer reaches every process. Frames on the pipe are length-prefixed pickles (the pipe joins
a process and its own child only):

- parent → child: ``(number, [Line, ...])``
- child → parent: ``("publish", [group, ...], message)``, ``("send", [channel], message)``,
  then
  ``("stored", number, [outcome, ...])`` with each outcome a :class:`Stored`, a message id
  (a ``cid`` already stored) or ``("error", code, text)``; ``("stored", number, None)`` when
  the batch failed as a whole (each line is then refused with ``retry``).

The child ends when the pipe closes (its parent exited).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import signal
import struct
import sys
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

HEADER = struct.Struct("!I")
# When the machine is short of CPU, the web process's relaying (a visitor waits for it) goes
# before storing (acks may come a little later; the writer catches up in bigger batches).
# Linux's SCHED_IDLE does that best: a web process waking up takes the CPU from this one at
# once (at nice 5 it often waited for the writer's time slice to end: the chat benchmark's
# p99 was 4.9 ms at nice 5 and 2.1 ms at SCHED_IDLE, the writer storing just as fast); where
# there is no SCHED_IDLE, nice 5.
NICENESS = 5


def yield_to_relaying() -> None:
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
    with contextlib.suppress(OSError):
        os.nice(NICENESS)


@dataclass(frozen=True)
class Stored:
    """A line stored as a new message: what the visitor and the agent are sent about it."""

    id: int
    message: dict[str, Any]  # the message object (docs/livechat.md)
    assignee_id: int | None


def encode(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def decode(data: bytes) -> Any:
    return pickle.loads(data)  # noqa: S301 (a pipe between a process and its own child)


def read_frame(stream: BinaryIO) -> Any:
    """The next frame from a blocking stream; None at its end."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return decode(data)


class Pipe:
    """The child's end towards its parent. Frames are buffered and go out together when a
    batch is answered (its publishes first, then its outcomes): one write for the lot."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.buffered: list[bytes] = []

    def write(self, obj: Any) -> None:
        data = encode(obj)
        with self.lock:
            self.buffered.append(data)

    def flush(self) -> None:
        with self.lock:
            data, self.buffered = b"".join(self.buffered), []
            self.stream.write(data)
            self.stream.flush()


def outcome_of(result: Any) -> Any:
    """A result of :func:`store_lines` as the parent needs it (no model instances)."""
    from kefu.conversations.models import Message
    from kefu.livechat.actions import ChatError
    from kefu.livechat.payloads import message_object

    if isinstance(result, Message):
        return Stored(
            id=result.pk,
            message=message_object(result, "", attachments=False),
            assignee_id=result.conversation.assignee_id,
        )
    if isinstance(result, ChatError):
        return ("error", result.code, str(result))
    return result


def store(lines: list[Any]) -> list[Any]:
    from django.db import close_old_connections

    from kefu.livechat.actions import store_lines

    close_old_connections()
    try:
        return [outcome_of(r) for r in store_lines(lines)]
    finally:
        close_old_connections()


def main() -> None:
    # Anything printed would corrupt the pipe: the parent's frames go out on a private copy
    # of stdout, and stdout itself becomes stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    yield_to_relaying()
    # Ctrl-C in a terminal reaches the whole process group: the web server shuts down, and
    # this process ends with its pipe, after the batch in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    import django

    django.setup()
    from django.db import connections

    # One process, one batch at a time: its database connection is kept from batch to batch
    # (a batch of a line or two paid for a new connection each time); one that failed or
    # broke is still closed after its batch and opened afresh for the next. One thread needs
    # no pool (PostgreSQL's web processes have one).
    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = None
        connections[alias].settings_dict.get("OPTIONS", {}).pop("pool", None)
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

    from kefu.core import realtime
    from kefu.core.layers import ForwardingLayer

    pipe = Pipe(out)
    realtime.forward_publishes(lambda groups, message: pipe.write(("publish", groups, message)))
    # Anything sending on the layer itself (not through realtime.publish) is forwarded too.
    channel_layers.set(
        DEFAULT_CHANNEL_LAYER,
        ForwardingLayer(lambda frame: pipe.write((frame[0], [frame[1]], frame[2]))),
    )
    gc.collect()
    gc.freeze()
    while (request := read_frame(source)) is not None:
        number, lines = request
        try:
            outcomes: list[Any] | None = store(lines)
        except Exception:
            logger.exception("could not store %d chat lines", len(lines))
            outcomes = None
        pipe.write(("stored", number, outcomes))
        pipe.flush()


if __name__ == "__main__":
    # Run as the module itself, not as ``__main__``: its classes travel in pickles by name.
    from kefu.livechat import writer_process

    writer_process.main()
