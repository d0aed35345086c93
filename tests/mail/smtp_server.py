"""A real SMTP server in the test process (aiosmtpd) that keeps what it receives.

It can be told to refuse messages (``sink.refuse("451 4.3.0 Try again later")``), to refuse
recipients, or to drop the connection in the middle of DATA, for fault tests.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes  # the bytes as they came over the wire (dot-unstuffed)

    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.content, policy=policy.default))


class SinkHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.data_reply: str | None = None  # None: accept
        self.rcpt_reply: str | None = None
        self.drop = False
        self.times = 0  # how many more messages the fault applies to (0: until reset)
        self.attempts = 0  # DATA commands seen, accepted or not
        self.lock = threading.Lock()

    def _fault_used(self) -> None:
        if self.times:
            self.times -= 1
            if not self.times:
                self.data_reply = self.rcpt_reply = None
                self.drop = False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            if self.drop:
                self._fault_used()
                server.transport.abort()  # the connection dies before any reply
                return "421 4.3.0 gone"
            if self.data_reply:
                reply = self.data_reply
                self._fault_used()
                return reply
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 OK queued"


class SmtpSink:
    """``with SmtpSink() as sink:`` a listening server on 127.0.0.1:``sink.port``."""

    def __init__(self) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def attempts(self) -> int:
        return self.handler.attempts

    def accept(self) -> None:
        """Take every message again."""
        h = self.handler
        h.data_reply = h.rcpt_reply = None
        h.drop, h.times = False, 0

    def refuse(self, reply: str, *, times: int = 0) -> None:
        """Answer DATA with ``reply`` (e.g. ``"451 4.3.0 Try later"``), ``times`` times or
        until :meth:`accept`."""
        self.accept()
        self.handler.data_reply, self.handler.times = reply, times

    def refuse_recipients(self, reply: str = "550 5.1.1 No such user") -> None:
        self.accept()
        self.handler.rcpt_reply = reply

    def drop_connection(self, *, times: int = 0) -> None:
        """Close the connection in the middle of DATA, without answering."""
        self.accept()
        self.handler.drop, self.handler.times = True, times
