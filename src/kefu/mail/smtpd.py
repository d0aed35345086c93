"""The SMTP listener (``kefu mail smtpd``): mail servers deliver to kefu directly.

Only our own active support addresses are accepted as recipients (550 for anything else: kefu
is never an open relay). A message is answered "250" only once :func:`kefu.mail.ingest.ingest`
has stored it; when storing fails the answer is "451" and the sending server keeps the message
and tries again later, so nothing is lost.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from kefu.mail.models import Mailbox

logger = logging.getLogger(__name__)

ACCEPTED = "250 Message accepted"
TEMPFAIL = "451 4.3.0 Temporary failure, try again"
NO_RELAY = "550 5.1.1 Recipient address rejected: not a mailbox of this server"
DEFAULT_MAX_BYTES = 40 * 1024 * 1024


def is_our_address(address: str) -> bool:
    return Mailbox.objects.filter(active=True, address__iexact=address.strip()).exists()


def mailbox_for(rcpt_tos: list[str]) -> Mailbox | None:
    """The first active mailbox among the recipients, else the first active mailbox."""
    active = Mailbox.objects.filter(active=True)
    for address in rcpt_tos:
        mailbox = active.filter(address__iexact=address.strip()).first()
        if mailbox is not None:
            return mailbox
    return active.order_by("pk").first()


def receive(raw: bytes, rcpt_tos: list[str]) -> str:
    """Store and ingest one message; the SMTP reply to give (runs in a worker thread)."""
    from kefu.mail.batch import accept
    from kefu.mail.ingest import IngestError, StorageError

    close_old_connections()
    try:
        accept(raw, mailbox=mailbox_for(rcpt_tos), source="smtp")  # the worker processes it
    except StorageError as exc:
        logger.error("SMTP: could not store a %d-byte message, asked to retry: %s", len(raw), exc)
        return TEMPFAIL
    except IngestError as exc:  # stored, then quarantined: a retry would not help
        logger.error("SMTP: message stored but quarantined: %s", exc)
        return ACCEPTED
    except Exception:
        logger.exception("SMTP: unexpected error taking in a %d-byte message", len(raw))
        return TEMPFAIL
    finally:
        close_old_connections()
    return ACCEPTED


def _check_recipient(address: str) -> bool:
    close_old_connections()
    try:
        return is_our_address(address)
    finally:
        close_old_connections()


class Handler:
    """aiosmtpd handler: refuses strangers' recipients, stores what is ours."""

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            ours = await sync_to_async(_check_recipient)(address)
        except Exception:
            logger.exception("SMTP: could not check recipient %r", address)
            return "451 4.3.0 Temporary failure checking the recipient, try again"
        if not ours:
            logger.info("SMTP: refused recipient %r from %r", address, session.peer)
            return NO_RELAY
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            return str(await sync_to_async(receive)(bytes(raw), list(envelope.rcpt_tos)))
        except Exception:
            logger.exception("SMTP: unexpected error handing a message over")
            return TEMPFAIL


class _SMTP(SMTP):
    # RFC 5321 allows 1,000 bytes per line, but real mail clients send longer HTML lines;
    # refusing them would bounce a customer's mail, so take them (within the size limit).
    line_length_limit = 256 * 1024


class KefuController(Controller):
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)


def make_controller(host: str, port: int) -> Controller:
    """The listener, not yet started (``.start()`` / ``.stop()``)."""
    return KefuController(
        Handler(),
        hostname=host,
        port=port,
        data_size_limit=int(getattr(settings, "KEFU_MAX_EMAIL_BYTES", DEFAULT_MAX_BYTES)),
        server_hostname=getattr(settings, "KEFU_SMTPD_HOSTNAME", "") or socket.getfqdn(),
        enable_SMTPUTF8=True,
    )


def serve(host: str, port: int, *, stop: threading.Event | None = None) -> None:
    """Run the listener until interrupted (Ctrl-C, SIGTERM) or ``stop`` is set."""
    stop = stop or threading.Event()
    controller = make_controller(host, port)
    controller.start()
    logger.info("SMTP listener on %s:%s", host, port)
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        logger.info("SMTP listener stopped")
