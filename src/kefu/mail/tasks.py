"""Background work of the email channel: delivering the outbox and retrying it."""

from __future__ import annotations

from django_tasks import task

from kefu.core.scheduler import every
from kefu.mail import outbound


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


@every(60, name="mail-reprocess")
@task()
def reprocess_stored() -> int:
    """Finish inbound mail a crashed worker stored but did not process (exactly once)."""
    from kefu.mail.ingest import reprocess_pending

    return reprocess_pending(older_than_seconds=60)


@every(60, name="mail-poll-imap")
@task()
def poll_imap() -> dict[str, str]:
    """Poll every active IMAP mailbox (`kefu mail imap` watches them continuously instead)."""
    from kefu.mail.imap import poll_all

    return {name: str(result) for name, result in poll_all().items()}
