"""What :func:`kefu.mail.parsing.parse` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""  # without <>, for inline (cid:) images
    inline: bool = False


@dataclass
class DeliveryStatus:
    """What a bounce (RFC 3464 DSN) says about one of our messages."""

    original_message_id: str  # without <>
    recipient: str
    status: str  # e.g. "5.1.1"
    diagnostic: str


@dataclass
class ParsedEmail:
    message_id: str = ""  # without <>; "" when missing
    in_reply_to: list[str] = field(default_factory=list)  # ids without <>
    references: list[str] = field(default_factory=list)  # ids without <>, oldest first
    subject: str = ""  # decoded, one line, no CR/LF
    from_name: str = ""
    from_address: str = ""  # lower-cased addr-spec, "" when missing or invalid
    reply_to: str = ""  # lower-cased addr-spec or ""
    to: list[tuple[str, str]] = field(default_factory=list)  # (name, address)
    cc: list[tuple[str, str]] = field(default_factory=list)
    date: datetime | None = None  # aware
    text: str = ""  # the best plain text: text/plain, or text derived from the HTML
    html: str = ""  # the HTML part as sent (NOT sanitized; the caller sanitizes)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    oversized: list[tuple[str, int]] = field(default_factory=list)  # (filename, bytes) dropped
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names, decoded values
    defects: list[str] = field(default_factory=list)
    delivery_status: DeliveryStatus | None = None  # set when the message is a bounce
