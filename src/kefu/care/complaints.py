"""Complaints: a mailbox provider's feedback report (ARF, RFC 5965: "this is spam") about one
of care's messages suppresses the address, marks the message and withdraws marketing consent.

Only reports about a message care really sent count (found by its Message-ID, which is random
and never shown to anyone but the recipient), so nobody can suppress an address by mailing us
a made-up report. A report of type ``not-spam`` or ``virus`` is not a complaint.
"""

from __future__ import annotations

import email
import logging
from email import policy
from email.message import Message
from typing import Any

from django.db import transaction
from django.utils import timezone

from kefu.care import live
from kefu.care.consent import has_consent, set_consent, suppress
from kefu.care.models import Delivery, Purpose, Suppression
from kefu.customers.timeline import record

logger = logging.getLogger(__name__)

NOT_COMPLAINTS = frozenset({"not-spam", "virus"})


def _headers_of(part: Message) -> Message | None:
    """The header block a report part holds (parsed as a message, or as text)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload[0] if payload and isinstance(payload[0], Message) else None
    raw = part.get_payload(decode=True) or b""
    if not isinstance(raw, bytes):
        return None
    return email.message_from_bytes(raw, policy=policy.compat32)


def read_report(raw: bytes) -> dict[str, str] | None:
    """The fields of an ARF feedback report (lower-case names, plus ``original-message-id``),
    or None if ``raw`` is not one."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "") or "").lower() != "feedback-report":
        return None
    fields: dict[str, str] = {}
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report" and "feedback-type" not in fields:
            block = _headers_of(part)
            if block is not None:
                for name, value in block.items():
                    fields.setdefault(name.lower(), " ".join(str(value).split()))
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            block = _headers_of(part)
            if block is not None and block.get("Message-ID"):
                fields.setdefault("original-message-id", str(block["Message-ID"]).strip())
    return fields if "feedback-type" in fields else None


def complain(message_id: str, *, feedback_type: str = "abuse", source: str = "arf") -> bool:
    """A recipient said "this is spam" about care's message ``message_id``: suppress the
    address, mark the message, withdraw marketing consent. True if the message was ours."""
    bare = (message_id or "").strip().strip("<>")
    if not bare:
        return False
    row = (
        Delivery.objects.select_related("customer")
        .filter(message_id__in=[f"<{bare}>", bare])
        .first()
    )
    if row is None:
        return False
    with transaction.atomic():
        Delivery.objects.filter(pk=row.pk, complained_at__isnull=True).update(
            complained_at=timezone.now()
        )
        suppress(row.address, Suppression.Reason.COMPLAINT, f"{source}: {feedback_type}")
        if has_consent(row.customer, Purpose.MARKETING):
            set_consent(
                row.customer, Purpose.MARKETING, granted=False, source=f"complaint:{row.pk}"
            )
        record(row.customer, "care_complaint", delivery=row.pk, feedback_type=feedback_type)
    live.changed(row.campaign_id, force=True)
    return True


def on_inbound(inbound: Any, parsed: Any) -> str:
    """The mail channel's report hook: "" unless this inbound email is a feedback report."""
    if "feedback-report" not in (parsed.headers.get("content-type", "") or "").lower():
        return ""
    try:
        with inbound.raw.open("rb") as handle:
            raw = handle.read()
    except Exception:
        logger.exception("care: could not read inbound email %s", inbound.pk)
        return ""
    report = read_report(raw)
    if report is None:
        return ""
    feedback_type = report.get("feedback-type", "").lower()[:32]
    if feedback_type in NOT_COMPLAINTS:
        return f"feedback report ({feedback_type}): no complaint"
    ours = complain(report.get("original-message-id", ""), feedback_type=feedback_type)
    if ours:
        return f"complaint ({feedback_type}) about care's message: address suppressed"
    return f"feedback report ({feedback_type}) about an unknown message"
