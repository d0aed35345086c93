"""Mail from IMAP mailboxes: poll (or IDLE), hand every message to :func:`ingest`, and only then
mark it on the server.

- Messages are read with ``BODY.PEEK[]`` (nothing is marked \\Seen before kefu has it) in
  batches, never the whole mailbox at once.
- A message is flagged ``$KefuProcessed`` (and \\Seen), and moved to the mailbox's processed
  folder if it has one, only after ``ingest`` returned, that is after its transaction committed.
  A crash before that leaves it unflagged: the next poll fetches it again and ``ingest``
  recognises the same bytes, so it is still ingested exactly once.
- If the raw message could not be stored (``StorageError``) it stays unflagged and is retried
  on the next poll. Any other failure makes it a poison message: it is flagged
  ``$KefuQuarantined`` (and \\Flagged, for a person looking at the mailbox), an error is logged
  with the mailbox and UID, and the poll goes on with the next message.
- Servers that do not allow keywords get \\Seen as the processed marker instead (a processed
  folder is then recommended).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import close_old_connections, connections, transaction
from django.utils import timezone
from imapclient import IMAPClient

from kefu.mail.ingest import StorageError, ingest
from kefu.mail.models import InboundEmail, Mailbox

logger = logging.getLogger(__name__)

PROCESSED = b"$KefuProcessed"
QUARANTINED = b"$KefuQuarantined"
SEEN = b"\\Seen"
FLAGGED = b"\\Flagged"
DELETED = b"\\Deleted"

BATCH_SIZE = 50  # UIDs per FETCH round
BATCH_BYTES = 32 * 1024 * 1024  # message bytes held in memory per FETCH (one big one alone)
MAX_STORAGE_FAILURES = 3  # in a row: storage is down, leave the rest for the next poll
TIMEOUT = 60.0  # seconds, connecting and waiting for a response


class ImapConfigurationError(Exception):
    """The mailbox's IMAP settings cannot be used as they are."""


@dataclass
class PollResult:
    """What one poll of one mailbox did."""

    fetched: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    deferred: int = 0  # not stored (storage failed): left on the server for the next poll
    error: str = ""  # the poll stopped early (connection, login, storage down, …)

    def __str__(self) -> str:
        text = (
            f"fetched {self.fetched}, ingested {self.ingested}, duplicates {self.duplicates}, "
            f"quarantined {self.quarantined}, deferred {self.deferred}"
        )
        return f"{text}; error: {self.error}" if self.error else text


# -- connecting -------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def connect(mailbox: Mailbox, *, timeout: float = TIMEOUT) -> IMAPClient:
    """A logged-in client for the mailbox, over SSL/TLS, STARTTLS or (loopback only) plain."""
    security = mailbox.imap_security
    if not mailbox.imap_host:
        raise ImapConfigurationError(f"mailbox {mailbox.name!r} has no IMAP host")
    if security == "none" and not _is_loopback(mailbox.imap_host):
        raise ImapConfigurationError(
            f"mailbox {mailbox.name!r}: an unencrypted IMAP connection is only allowed to a "
            f"loopback address, not {mailbox.imap_host!r}; choose SSL/TLS or STARTTLS"
        )
    if security not in ("ssl", "starttls", "none"):
        raise ImapConfigurationError(f"mailbox {mailbox.name!r}: unknown security {security!r}")
    context = ssl.create_default_context()
    client = IMAPClient(
        mailbox.imap_host,
        port=mailbox.imap_port,
        ssl=security == "ssl",
        ssl_context=context if security == "ssl" else None,
        timeout=timeout,
    )
    try:
        if security == "starttls":
            client.starttls(context)  # raises if the server does not offer it: never plain
        client.login(mailbox.imap_user, mailbox.imap_password)
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: IMAPClient) -> None:
    with suppress(Exception):
        client.logout()
    with suppress(Exception):
        client.shutdown()


# -- polling ----------------------------------------------------------------------------------


def poll_mailbox(mailbox: Mailbox) -> PollResult:
    """Fetch every message not yet processed or quarantined in the mailbox's folder, ingest it
    and mark it on the server. Raises on connection and login failures."""
    _refuse_inside_transaction()
    client = connect(mailbox)
    try:
        return _Poller(client, mailbox).poll()
    finally:
        _close(client)


def poll_all() -> dict[str, PollResult]:
    """Poll every active mailbox that has an IMAP host; one failing mailbox does not stop the
    others (its result carries the error)."""
    results: dict[str, PollResult] = {}
    for mailbox in Mailbox.objects.filter(active=True).exclude(imap_host=""):
        try:
            results[mailbox.name] = poll_mailbox(mailbox)
        except Exception as exc:
            logger.exception("IMAP mailbox %s: poll failed", mailbox.name)
            results[mailbox.name] = PollResult(error=f"{type(exc).__name__}: {exc}")
    return results


def _refuse_inside_transaction() -> None:
    # Flags are set on the server as soon as ingest returns; inside an outer transaction that
    # would be before the commit, and a rollback would lose mail the server calls processed.
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("poll IMAP mailboxes outside a database transaction")


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class _Poller:
    def __init__(self, client: IMAPClient, mailbox: Mailbox) -> None:
        self.client = client
        self.mailbox = mailbox
        self.result = PollResult()
        self.storage_failures = 0
        self.processed_flags: list[bytes] = [PROCESSED, SEEN]
        self.quarantine_flags: list[bytes] = [QUARANTINED, FLAGGED]
        self.criteria: list[Any] = [
            "NOT",
            "KEYWORD",
            PROCESSED,
            "NOT",
            "KEYWORD",
            QUARANTINED,
            "NOT",
            "DELETED",
        ]

    @cached_property
    def target(self) -> str:
        """The processed folder, "/" written as the server's hierarchy delimiter ("" for none)."""
        folder = self.mailbox.imap_processed_folder.strip().strip("/")
        if not folder or folder == self.mailbox.imap_folder:
            return ""
        if "/" in folder:
            delimiter = _delimiter(self.client)
            if delimiter and delimiter != "/":
                folder = folder.replace("/", delimiter)
        return folder

    def poll(self) -> PollResult:
        info = self.client.select_folder(self.mailbox.imap_folder)
        if not _keywords_allowed(info):
            logger.warning(
                "IMAP mailbox %s: the server does not keep keywords; marking processed mail "
                "\\Seen instead (set a processed folder so people reading the mailbox cannot "
                "hide mail from kefu)",
                self.mailbox.name,
            )
            self.processed_flags = [SEEN]
            self.quarantine_flags = [SEEN, FLAGGED]
            self.criteria = ["UNSEEN", "NOT", "DELETED"]
        if self.target:
            self._ensure_folder(self.target)
            self._move_leftovers()
        uids = sorted(self.client.search(self.criteria))
        for batch in _chunks(uids, BATCH_SIZE):
            if not self._process_batch(batch):
                break
        return self.result

    def _ensure_folder(self, folder: str) -> None:
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)
            with suppress(Exception):
                self.client.subscribe_folder(folder)

    def _move_leftovers(self) -> None:
        """Messages flagged processed but still here (a crash between flag and move)."""
        done = self.client.search(
            ["KEYWORD", PROCESSED, "NOT", "DELETED"]
            if self.processed_flags[0] == PROCESSED
            else ["SEEN", "NOT", "FLAGGED", "NOT", "DELETED"]
        )
        if done:
            self._move(sorted(done))

    def _process_batch(self, batch: list[int]) -> bool:
        """Fetch and ingest one batch; False when the poll should stop."""
        found = self.client.fetch(batch, ["RFC822.SIZE"])
        sizes = {uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in found.items()}
        for group in _by_size(batch, sizes, BATCH_BYTES):
            data = self.client.fetch(group, ["BODY.PEEK[]"])
            processed: list[int] = []
            go_on = True
            for uid in group:
                raw = data.pop(uid, {}).get(b"BODY[]")
                if raw is None:
                    continue  # expunged meanwhile by someone else
                if self._handle(uid, bytes(raw)):
                    processed.append(uid)
                elif self.storage_failures >= MAX_STORAGE_FAILURES:
                    self.result.error = (
                        f"storage failed {self.storage_failures} times in a row; the "
                        "remaining messages are left for the next poll"
                    )
                    go_on = False
                    break
            if processed and self.target:
                self._move(processed)  # a crash before this: _move_leftovers next time
            if not go_on:
                return False
        return True

    def _handle(self, uid: int, raw: bytes) -> bool:
        """Ingest one message; True when it was processed (and flagged as such)."""
        self.result.fetched += 1
        started = timezone.now()
        try:
            record = ingest(raw, mailbox=self.mailbox, source="imap")
        except StorageError as exc:
            self.storage_failures += 1
            self.result.deferred += 1
            logger.warning(
                "IMAP mailbox %s: message UID %s could not be stored (%s); it stays on the "
                "server unflagged and is retried on the next poll",
                self.mailbox.name,
                uid,
                exc,
            )
            return False
        except Exception as exc:
            self.storage_failures = 0
            self.client.add_flags([uid], self.quarantine_flags, silent=True)
            self.result.quarantined += 1
            logger.error(
                "ALERT IMAP mailbox %s (%s): message UID %s in %s quarantined, flagged %s; "
                "it will not be retried. Ingest failed: %r",
                self.mailbox.name,
                self.mailbox.address,
                uid,
                self.mailbox.imap_folder,
                QUARANTINED.decode(),
                exc,
                exc_info=True,
            )
            return False
        self.storage_failures = 0
        # ingest has returned: its transaction is committed, so now the server may know.
        self.client.add_flags([uid], self.processed_flags, silent=True)
        if record.state == InboundEmail.State.DUPLICATE or record.received_at < started:
            self.result.duplicates += 1
        else:
            self.result.ingested += 1
        return True

    def _move(self, uids: list[int]) -> None:
        target = self.target
        if self.client.has_capability("MOVE"):
            self.client.move(uids, target)
            return
        self.client.copy(uids, target)
        self.client.add_flags(uids, [DELETED], silent=True)
        if self.client.has_capability("UIDPLUS"):
            self.client.expunge(uids)  # UID EXPUNGE: only these
        else:
            self.client.expunge()


def _delimiter(client: IMAPClient) -> str:
    """The server's folder hierarchy delimiter ("" if it has none)."""
    for _flags, delimiter, _name in client.list_folders("", ""):  # LIST "" "": just that
        if delimiter:
            return delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter)
    return ""


def _keywords_allowed(select_info: dict[bytes, Any]) -> bool:
    permanent = select_info.get(b"PERMANENTFLAGS")
    if permanent is None:
        return True  # not announced: assume the server keeps them
    flags = {
        bytes(f).upper() if isinstance(f, bytes) else str(f).upper().encode() for f in permanent
    }
    return b"\\*" in flags or PROCESSED.upper() in flags


def _by_size(uids: Iterable[int], sizes: dict[int, int], limit: int) -> Iterator[list[int]]:
    """Group UIDs so one FETCH holds at most `limit` bytes (a bigger message goes alone)."""
    group: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid)
        if size is None:
            continue  # gone since the search
        if group and total + size > limit:
            yield group
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        yield group


# -- watching ---------------------------------------------------------------------------------


def idle_loop(
    mailbox: Mailbox,
    stop: threading.Event,
    timeout: float = 300,
    *,
    poll_interval: float = 60.0,
) -> None:
    """Watch one mailbox until `stop` is set: poll once, then IDLE where the server offers it
    (polling again whenever it reports new mail, and at least every `timeout` seconds), or poll
    every `poll_interval` seconds where it does not. Connection failures are logged and retried
    with a growing pause; the loop itself never dies of them."""
    backoff = 1.0
    try:
        while not stop.is_set():
            client: IMAPClient | None = None
            try:
                close_old_connections()
                try:
                    mailbox.refresh_from_db()
                except Mailbox.DoesNotExist:
                    logger.info("IMAP mailbox %s: deleted, watching stops", mailbox.name)
                    return
                if not mailbox.active or not mailbox.imap_host:
                    logger.info("IMAP mailbox %s: inactive, watching stops", mailbox.name)
                    return
                client = connect(mailbox)
                _poll_logged(client, mailbox)
                backoff = 1.0
                if client.has_capability("IDLE"):
                    _idle(client, mailbox, stop, timeout)
                else:
                    while not stop.wait(poll_interval):
                        _poll_logged(client, mailbox)
            except Exception:
                logger.exception(
                    "IMAP mailbox %s: watching failed (connection, login or poll); "
                    "retrying in %.0f s",
                    mailbox.name,
                    backoff,
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, max(timeout, 60.0))
            finally:
                if client is not None:
                    _close(client)
    finally:
        connections.close_all()  # this thread's connections


def _poll_logged(client: IMAPClient, mailbox: Mailbox) -> PollResult:
    close_old_connections()
    result = _Poller(client, mailbox).poll()
    if result.fetched or result.error:
        logger.info("IMAP mailbox %s: %s", mailbox.name, result)
    return result


def _idle(client: IMAPClient, mailbox: Mailbox, stop: threading.Event, timeout: float) -> None:
    while not stop.is_set():
        client.idle()
        deadline = time.monotonic() + timeout
        try:
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(1.0, remaining)
                began = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(_announces_mail(r) for r in responses):
                    break
                if not responses and time.monotonic() - began < wait / 2:
                    break  # readable but nothing to read: the connection closed
        finally:
            client.idle_done()
        if stop.is_set():
            return
        _poll_logged(client, mailbox)


def _announces_mail(response: tuple[Any, ...]) -> bool:
    return len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")
