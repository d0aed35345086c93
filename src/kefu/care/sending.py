"""Sending care email: each :class:`Delivery` row at most once, so a campaign interrupted
(worker killed) resumes without sending anyone the same message twice.

A row moves ``pending`` → ``claimed`` (a worker took it; nothing went to SMTP yet) →
``sending`` (committed *before* the message is handed to the SMTP server) → ``sent``. A crash
leaves at most the one row each worker was handing over in ``sending``: the recovery job marks
it ``uncertain`` and never resends it (the server may have it). Rows left ``claimed`` were never
handed over, so they go back to ``pending`` and are sent by whoever resumes. The unique
``key`` (and (campaign, customer)) means no second row for the same message can exist.

Consent and suppression are checked for each row right before it is sent, not only when the
recipients were chosen: a customer who unsubscribed a second ago gets nothing.
"""

from __future__ import annotations

import logging
import smtplib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Prefetch, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from kefu.care import live, mime, tokens
from kefu.care.consent import FLAG, normalize, suppress, suppressed_among
from kefu.care.models import Delivery, Purpose, Suppression, Survey, TemplateVersion
from kefu.care.rendering import Rendered, context_for, render_for
from kefu.customers.models import Preference

logger = logging.getLogger(__name__)

State = Delivery.State
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(BACKOFF) + 1
CLAIM_LEASE = timedelta(minutes=10)
SENDING_LEASE = timedelta(minutes=15)
# Tests replace this to kill the "worker" right after the server accepted a message.
after_send: Callable[[Delivery], None] | None = None


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    uncertain: int = 0
    errors: list[str] = field(default_factory=list)


def absolute(path: str) -> str:
    return settings.KEFU_BASE_URL.rstrip("/") + path


@lru_cache(maxsize=32)
def _link_pattern(name: str, prefix: str, base: str) -> tuple[str, str]:
    """The absolute URL of ``name`` split around its token (reversed once, not per message;
    tokens are URL-safe, so the result is what ``reverse`` would give)."""
    marker = "TOKEN0000"
    url = base.rstrip("/") + reverse(name, args=[marker])
    head, _, tail = url.partition(marker)
    return head, tail


def _link(name: str, salt: str, pk: int) -> str:
    from django.urls import get_script_prefix

    head, tail = _link_pattern(name, get_script_prefix(), settings.KEFU_BASE_URL)
    return head + tokens.make(salt, pk) + tail


def unsubscribe_url(delivery_id: int) -> str:
    return _link("care:unsubscribe", tokens.UNSUBSCRIBE, delivery_id)


def _row_unsubscribe_url(row: Delivery) -> str:
    """Made once per row (the template and the headers both use it)."""
    url = getattr(row, "_unsubscribe_url", None)
    if url is None:
        url = unsubscribe_url(row.pk)
        row._unsubscribe_url = url  # type: ignore[attr-defined]
    return url


def survey_url(survey_id: int) -> str:
    return _link("care:survey", tokens.SURVEY, survey_id)


def open_url(delivery_id: int) -> str:
    return _link("care:opened", tokens.OPENED, delivery_id)


# Claiming ------------------------------------------------------------------------------------


def claim(*, campaign_id: int | None, limit: int, kinds: list[str] | None = None) -> list[int]:
    """Take up to ``limit`` due pending rows for this worker (a conditional UPDATE: two
    workers never get the same row)."""
    now = timezone.now()
    due = Delivery.objects.filter(state=State.PENDING).filter(
        Q(due_at__isnull=True) | Q(due_at__lte=now)
    )
    due = due.filter(campaign_id=campaign_id) if campaign_id else due.filter(campaign__isnull=True)
    if kinds:
        due = due.filter(kind__in=kinds)
    ids = list(due.order_by("id").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    with transaction.atomic():
        Delivery.objects.filter(pk__in=ids, state=State.PENDING).update(
            state=State.CLAIMED, lease_until=now + CLAIM_LEASE
        )
    # Those this worker won (another may have won some in between).
    return list(
        Delivery.objects.filter(pk__in=ids, state=State.CLAIMED, lease_until=now + CLAIM_LEASE)
        .order_by("id")
        .values_list("pk", flat=True)
    )


def recover(now: Any = None) -> tuple[int, int]:
    """After a crash: claimed rows whose lease ran out go back to pending (never handed to
    SMTP); sending rows whose lease ran out become uncertain (never resent)."""
    now = now or timezone.now()
    released = Delivery.objects.filter(state=State.CLAIMED, lease_until__lt=now).update(
        state=State.PENDING, lease_until=None
    )
    uncertain = Delivery.objects.filter(state=State.SENDING, lease_until__lt=now).update(
        state=State.UNCERTAIN,
        lease_until=None,
        error="delivery uncertain: the worker stopped while handing it over; not resent",
    )
    return released, uncertain


# Building ------------------------------------------------------------------------------------


def _rows(ids: list[int]) -> list[Delivery]:
    return list(
        Delivery.objects.filter(pk__in=ids, state=State.CLAIMED)
        .select_related(
            "customer",
            "customer__organization",
            "campaign",
            "survey",
            "conversation",
        )
        .prefetch_related(
            Prefetch(
                "customer__preferences",
                queryset=Preference.objects.order_by("kind", "id"),
                to_attr="care_preferences",
            )
        )
        .order_by("id")
    )


def render_row(row: Delivery, versions: list[TemplateVersion]) -> Rendered | None:
    customer = row.customer
    extra: dict[str, Any] = {"unsubscribe_url": _row_unsubscribe_url(row)}
    if row.survey_id:
        extra["survey_url"] = survey_url(row.survey_id)
    if row.kind == Delivery.Kind.CSAT:
        return _csat_message(row, extra)
    preferences = getattr(customer, "care_preferences", None)
    values = context_for(customer, preferences, extra=extra)
    return render_for(versions, values, language=customer.language, tier=customer.tier)


def _csat_message(row: Delivery, extra: dict[str, Any]) -> Rendered:
    """The built-in satisfaction survey email, in the customer's language."""
    customer = row.customer
    language = customer.language or settings.LANGUAGE_CODE
    values = {
        "name": customer.name,
        "subject": row.conversation.subject if row.conversation_id else "",  # type: ignore[union-attr]
        "scores": [(n, f"{extra['survey_url']}?score={n}") for n in range(1, 6)],
        **extra,
    }
    with translation.override(language):
        from django.utils.translation import gettext

        subject = gettext("How did we do?")
        text = render_to_string("care/email/csat.txt", values)
        html = render_to_string("care/email/csat.html", values)
    return Rendered(subject=subject, text=text, html=html, language=language)


class _OnceBuilt(EmailMultiAlternatives):
    """Built once: checked before the row is marked sending (a header error is a failure,
    not an uncertain delivery), and the same bytes then go to the server."""

    _built: Any = None

    def message(self, **kwargs: Any) -> Any:
        if kwargs:
            return super().message(**kwargs)
        if self._built is None:
            self._built = super().message()
        return self._built


@lru_cache(maxsize=16)
def _footer(language: str) -> str:
    with translation.override(language or settings.LANGUAGE_CODE):
        from django.utils.translation import gettext

        return gettext("Unsubscribe")


@dataclass
class Parts:
    """Everything a care email says, whichever way it is built."""

    to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str
    headers: tuple[tuple[str, str], ...]  # the same for every message of a kind


def parts(row: Delivery, rendered: Rendered, *, tracking: bool = True) -> Parts:
    from kefu.mail.outbound import domain_of

    url = _row_unsubscribe_url(row)
    headers = [
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Auto-Submitted", "auto-generated"),
        ("X-Kefu-Loop", domain_of(settings.DEFAULT_FROM_EMAIL)),
    ]
    if row.kind == Delivery.Kind.CAMPAIGN:
        headers.append(("Precedence", "bulk"))
    footer = _footer(rendered.language)
    text = rendered.text.rstrip() + f"\n\n--\n{footer}: {url}\n"
    html = ""
    if rendered.html:
        pixel = f'<img src="{open_url(row.pk)}" width="1" height="1" alt="">' if tracking else ""
        html = (
            f'{rendered.html}<hr><p style="font-size:12px;color:#666">'
            f'<a href="{url}">{footer}</a></p>{pixel}'
        )
    return Parts(
        to=row.address,
        subject=" ".join(rendered.subject.split()) or "—",  # one line, whatever it came from
        text=text,
        html=html,
        unsubscribe_url=url,
        headers=tuple(headers),
    )


def build_email(
    row: Delivery, rendered: Rendered, *, tracking: bool = True
) -> EmailMultiAlternatives:
    """The message through Django's email package (any backend; any address)."""
    p = parts(row, rendered, tracking=tracking)
    email = _OnceBuilt(
        subject=p.subject,
        body=p.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[p.to],
        headers={
            "Message-ID": row.message_id,
            "List-Unsubscribe": f"<{p.unsubscribe_url}>",
            **dict(p.headers),
        },
    )
    if p.html:
        email.attach_alternative(p.html, "text/html")
    return email


@dataclass
class Outgoing:
    """One message ready to hand over: raw bytes for an SMTP connection (the fast path), or
    a Django email for any other backend and for addresses that are not plain ASCII."""

    sender: str = ""
    recipient: str = ""
    data: bytes | None = None
    email: EmailMultiAlternatives | None = None


def _raw_capable(connection: Any) -> bool:
    from django.core.mail.backends.smtp import EmailBackend

    return isinstance(connection, EmailBackend)


def prepare(row: Delivery, rendered: Rendered, connection: Any) -> Outgoing:
    """The message for ``row``, built completely (errors surface here, before "sending")."""
    if _raw_capable(connection) and mime.plain_address(row.address):
        p = parts(row, rendered)
        try:
            sender, data = mime.build(
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=p.to,
                subject=p.subject,
                message_id=row.message_id,
                text=p.text,
                html=p.html,
                unsubscribe_url=p.unsubscribe_url,
                constant=p.headers,
            )
        except (ValueError, UnicodeError):
            pass  # e.g. a non-ASCII From domain: Django's package handles it
        else:
            return Outgoing(sender=sender, recipient=p.to, data=data)
    email = build_email(row, rendered)
    email.message()
    return Outgoing(email=email)


# Sending -------------------------------------------------------------------------------------


def _allowed(row: Delivery, suppressed: set[str]) -> str:
    """ "" if the row may be sent now, else why not."""
    if normalize(row.address) in suppressed:
        return "address suppressed"
    if not getattr(row.customer, FLAG[Purpose(row.purpose)]):
        return "no consent"
    if row.customer.merged_into_id is not None:
        return "customer merged away"
    return ""


def _versions(rows: list[Delivery]) -> dict[int, list[TemplateVersion]]:
    ids = {r.template_id for r in rows if r.template_id}
    found: dict[int, list[TemplateVersion]] = {i: [] for i in ids}
    for v in TemplateVersion.objects.filter(template_id__in=ids):
        found[v.template_id].append(v)
    return found


def send_claimed(
    ids: list[int],
    *,
    rate_per_minute: int = 0,
    connection: Any = None,
    counts: Counts | None = None,
) -> Counts:
    """Send the claimed rows ``ids`` over one SMTP connection."""
    counts = counts or Counts()
    rows = _rows(ids)
    if not rows:
        return counts
    suppressed = suppressed_among([r.address for r in rows])
    versions = _versions(rows)
    own = connection is None
    connection = connection or get_connection(fail_silently=False)
    interval = 60.0 / rate_per_minute if rate_per_minute else 0.0
    accepted: list[int] = []  # sent, to be recorded with the next row's "sending" commit
    try:
        for index, row in enumerate(rows):
            why_not = _allowed(row, suppressed)
            if why_not:
                _settle(row, State.SKIPPED, why_not, from_state=State.CLAIMED)
                counts.skipped += 1
                continue
            try:
                rendered = render_row(row, versions.get(row.template_id or 0, []))
                if rendered is None:
                    raise ValueError("the template has no version for this customer")
                row.message_id = row.message_id or (
                    f"<care.{uuid.uuid4().hex}@{row.address.rpartition('@')[2] or 'localhost'}>"
                )
                outgoing = prepare(row, rendered, connection)
            except Exception as exc:
                logger.exception("could not build care email %s", row.key)
                _settle(row, State.FAILED, f"could not build: {exc}", from_state=State.CLAIMED)
                counts.failed += 1
                continue
            if not _mark_sending(row, accepted):
                continue  # another worker settled it (lease ran out): not ours any more
            started = time.monotonic()
            result = _send_one(connection, outgoing, row, counts, accepted)
            if result == "reopen":
                connection = _reopen(connection)
            if interval and index < len(rows) - 1:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        _record_sent(accepted)
        live.changed(rows[0].campaign_id)  # once a second at most
        if own:
            try:
                connection.close()
            except Exception:
                logger.warning("closing the SMTP connection failed", exc_info=True)
        # Rows this call did not reach (an exception above) go back to the queue.
        Delivery.objects.filter(pk__in=ids, state=State.CLAIMED).update(
            state=State.PENDING, lease_until=None
        )
    return counts


def _reopen(connection: Any) -> Any:
    try:
        connection.close()
    except Exception:
        logger.debug("closing a broken SMTP connection failed", exc_info=True)
    return get_connection(fail_silently=False)


def _record_sent(accepted: list[int]) -> None:
    if accepted:
        Delivery.objects.filter(pk__in=accepted, state=State.SENDING).update(
            state=State.SENT, error="", lease_until=None, sent_at=timezone.now()
        )
        accepted.clear()


def _mark_sending(row: Delivery, accepted: list[int]) -> bool:
    """Commit "sending" for ``row`` (and "sent" for the messages the server accepted since the
    last commit: one commit per message instead of two; a crash in between leaves those
    "sending", hence uncertain and never resent, which is the at-most-once side).

    Once per message, so it is two plain statements instead of the ORM's (whose query
    building cost more than the rest of the commit)."""
    from django.db import connection

    table = connection.ops.quote_name(Delivery._meta.db_table)
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        if accepted:
            marks = ", ".join(["%s"] * len(accepted))
            cursor.execute(
                f"UPDATE {table} SET state = %s, error = '', lease_until = NULL, sent_at = %s "  # noqa: S608 (our table's name; values are parameters)
                f"WHERE state = %s AND id IN ({marks})",
                [State.SENT.value, adapt(now), State.SENDING.value, *accepted],
            )
            accepted.clear()
        cursor.execute(
            f"UPDATE {table} SET state = %s, attempts = %s, message_id = %s, lease_until = %s "  # noqa: S608 (our table's name; values are parameters)
            "WHERE id = %s AND state = %s",
            [
                State.SENDING.value,
                row.attempts + 1,
                row.message_id,
                adapt(now + SENDING_LEASE),
                row.pk,
                State.CLAIMED.value,
            ],
        )
        done = cursor.rowcount
    row.attempts += 1
    return bool(done)


def _send_one(
    connection: Any,
    outgoing: Outgoing,
    row: Delivery,
    counts: Counts,
    accepted: list[int],
) -> str:
    """Hand one message over; "reopen" when the connection is not usable any more."""
    try:
        connection.open()  # no-op while it is open: one SMTP session for many messages
        if outgoing.data is not None:
            # Raises when the server refuses the one recipient (or the message).
            connection.connection.sendmail(outgoing.sender, [outgoing.recipient], outgoing.data)
            sent = 1
        else:
            sent = connection.send_messages([outgoing.email])
    except smtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(f"{r}: {c} {m!r}" for r, (c, m) in exc.recipients.items())
        permanent = all(c >= 500 for c, _m in exc.recipients.values())
        if permanent:
            _bounced(row, f"refused: {reasons}")
            counts.failed += 1
            return "ok"
        counts.retried += 1
        return _retry(row, reasons)
    except smtplib.SMTPResponseException as exc:
        reason = f"{exc.smtp_code} {exc.smtp_error!r}"
        if exc.smtp_code >= 500 and not isinstance(
            exc, smtplib.SMTPAuthenticationError | smtplib.SMTPConnectError
        ):
            _settle(row, State.FAILED, f"refused by the mail server: {reason}")
            counts.failed += 1
            return "ok"
        counts.retried += 1
        _retry(row, reason)
        return "reopen"
    except (smtplib.SMTPException, OSError) as exc:
        counts.retried += 1
        _retry(row, f"{type(exc).__name__}: {exc}")
        return "reopen"
    except Exception as exc:
        # Not a network error: we cannot know whether the server got it, so never resend.
        logger.exception("unexpected error sending care email %s", row.key)
        _settle(row, State.UNCERTAIN, f"delivery uncertain ({type(exc).__name__}: {exc})")
        counts.uncertain += 1
        return "reopen"
    if not sent:
        _settle(row, State.FAILED, "the mail backend sent nothing")
        counts.failed += 1
        return "ok"
    if after_send is not None:
        after_send(row)  # tests: a "kill" here leaves the row "sending"
    accepted.append(row.pk)
    counts.sent += 1
    return "ok"


def _settle(
    row: Delivery, state: str, error: str, *, from_state: str = State.SENDING, **more: Any
) -> None:
    Delivery.objects.filter(pk=row.pk, state=from_state).update(
        state=state, error=error[:1000], lease_until=None, **more
    )


def _retry(row: Delivery, reason: str) -> str:
    """The server refused for now (nothing was accepted), so sending again is safe."""
    if row.attempts >= MAX_ATTEMPTS:
        _settle(row, State.FAILED, f"gave up after {row.attempts} attempts: {reason}")
        return "ok"
    when = timezone.now() + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
    Delivery.objects.filter(pk=row.pk, state=State.SENDING).update(
        state=State.PENDING, due_at=when, error=reason[:1000], lease_until=None
    )
    return "ok"


def _bounced(row: Delivery, reason: str) -> None:
    with transaction.atomic():
        _settle(row, State.FAILED, reason, bounced_at=timezone.now())
        suppress(row.address, Suppression.Reason.BOUNCED, reason)


def mark_bounced(message_id: str, reason: str, *, complaint: bool = False) -> bool:
    """A bounce (or complaint) for one of care's messages: mark it and suppress the address.
    True if the message was ours."""
    bare = message_id.strip().strip("<>")
    row = Delivery.objects.filter(message_id__in=[f"<{bare}>", bare]).first()
    if row is None:
        return False
    Delivery.objects.filter(pk=row.pk).update(bounced_at=timezone.now())
    live.changed(row.campaign_id)
    suppress(
        row.address,
        Suppression.Reason.COMPLAINT if complaint else Suppression.Reason.BOUNCED,
        reason,
    )
    return True


def send_due(
    *,
    campaign_id: int | None = None,
    kinds: list[str] | None = None,
    batch: int = 200,
    rate_per_minute: int = 0,
    keep_going: Callable[[], bool] = lambda: True,
    senders: int = 1,
) -> Counts:
    """Claim and send due rows until none is left (or ``keep_going`` says stop), over
    ``senders`` SMTP connections in parallel (each a thread with its own database connection;
    the claim keeps them from ever taking the same row). Waiting on the mail server's replies
    dominates, so a few connections multiply the rate; a rate limit is shared among them."""
    if rate_per_minute:
        # Each connection gets an equal share of the rate, never less than one a second.
        senders = max(1, min(senders, rate_per_minute // 60))
    if senders <= 1:
        return _send_loop(campaign_id, kinds, batch, rate_per_minute, keep_going)
    import threading

    total = Counts()
    lock = threading.Lock()
    stop = threading.Event()

    def one() -> None:
        from django.db import connection

        def go_on() -> bool:
            if stop.is_set():
                return False
            with lock:
                if not keep_going():
                    stop.set()
                    return False
            return True

        try:
            counts = _send_loop(
                campaign_id, kinds, max(1, batch // senders), rate_per_minute // senders, go_on
            )
            with lock:
                for name in ("sent", "failed", "skipped", "retried", "uncertain"):
                    setattr(total, name, getattr(total, name) + getattr(counts, name))
        except Exception as exc:
            logger.exception("care sender thread failed")
            with lock:
                total.errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=one, name=f"care-sender-{i}") for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total


def _send_loop(
    campaign_id: int | None,
    kinds: list[str] | None,
    batch: int,
    rate_per_minute: int,
    keep_going: Callable[[], bool],
) -> Counts:
    counts = Counts()
    connection = get_connection(fail_silently=False)
    try:
        while keep_going():
            ids = claim(campaign_id=campaign_id, limit=batch, kinds=kinds)
            if not ids:
                break
            send_claimed(ids, rate_per_minute=rate_per_minute, connection=connection, counts=counts)
    finally:
        try:
            connection.close()
        except Exception:
            logger.warning("closing the SMTP connection failed", exc_info=True)
    return counts


def create_survey_delivery(survey: Survey, *, key: str, address: str, kind: str) -> Delivery:
    return Delivery.objects.create(
        key=key,
        kind=kind,
        purpose=Purpose.SERVICE,
        customer=survey.customer,
        conversation=survey.conversation,
        survey=survey,
        address=address,
    )
