"""Background work of the email channel: delivering the outbox and retrying it."""

from __future__ import annotations

import logging
import threading

from django_tasks import task

from kefu.core.scheduler import every, watcher
from kefu.mail import outbound

logger = logging.getLogger(__name__)


@task()
def send_outbound(outbound_id: int) -> str:
    """Deliver one outbox row (at most once; see :func:`kefu.mail.outbound.deliver`)."""
    return outbound.deliver(outbound_id)


@every(30, name="mail-retry-outbox")
@task()
def retry_outbox() -> int:
    """Enqueue the outbox rows whose retry is due, or whose first enqueue was lost."""
    ids = outbound.due_ids()
    for outbound_id in ids:
        send_outbound.enqueue(outbound_id)
    return len(ids)


@task()
def process_inbound() -> int:
    """Process the inbound mail the pipe command and the SMTP listener stored, in batches
    (:mod:`kefu.mail.batch`). Enqueued by each of them; a run finds every stored message, so
    the runs after the first of a burst find little or nothing to do."""
    from kefu.mail.batch import process_pending

    return process_pending()


@every(60, name="mail-reprocess")
@task()
def reprocess_stored() -> int:
    """Finish inbound mail a crashed worker stored but did not process (exactly once), or
    whose ``process_inbound`` task was lost."""
    from kefu.mail.batch import process_pending

    return process_pending(older_than_seconds=60)


@watcher("mail-imap")
def watch_imap_mailboxes(stop: threading.Event, refresh: float = 60.0) -> None:
    """Keep one IDLE/poll loop per active IMAP mailbox (new mail shows up within seconds),
    starting loops for mailboxes added in the admin and stopping those switched off."""
    from django.db import close_old_connections

    from kefu.mail.imap import idle_loop
    from kefu.mail.models import Mailbox

    running: dict[int, tuple[threading.Thread, threading.Event]] = {}
    while not stop.is_set():
        close_old_connections()
        try:
            active = {m.pk: m for m in Mailbox.objects.filter(active=True).exclude(imap_host="")}
        except Exception:
            logger.exception("could not read the mailboxes; keeping the loops that run")
            stop.wait(refresh)
            continue
        for pk, mailbox in active.items():
            if pk not in running:
                own_stop = threading.Event()
                thread = threading.Thread(
                    target=idle_loop,
                    args=(mailbox, own_stop),
                    daemon=True,
                    name=f"imap-{pk}",
                )
                thread.start()
                running[pk] = (thread, own_stop)
        for pk in [pk for pk in running if pk not in active]:
            running.pop(pk)[1].set()
        stop.wait(refresh)
    for _thread, own_stop in running.values():
        own_stop.set()
