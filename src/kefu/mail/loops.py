"""Recognising mail that no machine should answer: auto-replies, lists, bounces, ourselves.

RFC 3834 (Auto-Submitted), the Precedence and List-* conventions, Microsoft's
X-Auto-Response-Suppress, the usual robot senders, and the subjects of Chinese mail services'
vacation replies, which often carry no header at all (QQ Mail, 163).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kefu.mail.parsing import ParsedEmail

ROBOT_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|noreply-\S*|bounces?(\+\S*)?)@", re.I
)
AUTO_SUBJECT = re.compile(
    r"^\s*(自动回复|自動回覆|自动答复|自動答覆|休假|auto(matic)?[ -]?reply|autoreply|"
    r"out of (the )?office|abwesenheit|delivery status notification|undeliver(ed|able)|"
    r"退信|系统退信|returned mail)",
    re.I,
)


def automatic_reason(parsed: ParsedEmail, own_addresses: Iterable[str] = ()) -> str | None:
    """Why this message must not be auto-answered, or None if a person wrote it."""
    headers = parsed.headers
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply", "auto-reply"}:
        return f"Precedence: {precedence}"
    for name in (
        "list-id",
        "list-unsubscribe",
        "x-auto-response-suppress",
        "x-autoreply",
        "x-autorespond",
        "x-kefu-loop",
    ):
        if headers.get(name):
            return f"{name} header"
    sender = parsed.reply_to or parsed.from_address
    own = {a.lower() for a in own_addresses}
    if parsed.from_address in own or (sender and sender in own):
        return "sent from one of our own addresses"
    if sender and ROBOT_SENDERS.match(sender):
        return f"robot sender {sender}"
    if parsed.delivery_status is not None:
        return "delivery status notification"
    if AUTO_SUBJECT.match(parsed.subject):
        return "auto-reply subject"
    return None
