"""The entry point: :func:`parse`, and the message-level steps it takes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from email.message import Message
from email.parser import BytesParser

from kefu.mail.htmltext import html_to_text
from kefu.mail.parsing.addresses import _addresses
from kefu.mail.parsing.charsets import normalize_charset
from kefu.mail.parsing.decoding import decode_bytes
from kefu.mail.parsing.headers import _date, _ids, header_line, header_params
from kefu.mail.parsing.mime import (
    PARSE_POLICY,
    _attach,
    _content_type,
    _part_text,
    _payload_bytes,
    _raw_header,
    _raw_headers,
    _Walk,
    _walk,
)
from kefu.mail.parsing.model import ParsedEmail
from kefu.mail.parsing.reports import _delivery_status

_KEPT_HEADER_LIMIT = 4000


def parse(
    raw: bytes, *, max_attachment_bytes: int = 10 * 1024 * 1024, max_parts: int = 1000
) -> ParsedEmail:
    """Parse a raw message. Never raises: what could not be understood is in ``defects``."""
    result = ParsedEmail()
    try:
        _parse_into(result, raw, max_attachment_bytes=max_attachment_bytes, max_parts=max_parts)
    except Exception as exc:  # the contract: never raise
        result.defects.append(f"the message could not be parsed ({type(exc).__name__})")
        if not (result.text or result.html):
            with contextlib.suppress(Exception):
                result.text = _fallback_text(raw)
    return result


def _fallback_text(raw: bytes) -> str:
    """The body as text when the MIME structure could not be read at all."""
    separator = re.search(rb"\r?\n\r?\n", raw)
    body = raw[separator.end() :] if separator else raw
    return decode_bytes(body[:1_000_000], None).replace("\r\n", "\n").replace("\x00", "")


def _parse_into(
    result: ParsedEmail, raw: bytes, *, max_attachment_bytes: int, max_parts: int
) -> None:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("parse() needs bytes")
    raw = bytes(raw)
    structure = True
    try:
        message = BytesParser(policy=PARSE_POLICY).parsebytes(raw)
    except Exception as exc:  # e.g. RecursionError on absurdly deep nesting
        result.defects.append(f"the MIME structure could not be read ({type(exc).__name__})")
        message = BytesParser(policy=PARSE_POLICY).parsebytes(raw, headersonly=True)
        structure = False
        with contextlib.suppress(Exception):
            result.text = _fallback_text(raw)

    walk = _Walk(hints=(), max_parts=max(1, max_parts), max_attachment_bytes=max_attachment_bytes)
    # raw 8-bit headers are usually in the charset of the body: find it before the headers
    walk.hints = _charset_hints(message)
    hints = walk.hints
    _headers(result, message, hints)
    if structure:
        _walk(message, walk)
    result.defects.extend(dict.fromkeys(walk.defects))
    for part, is_html in ((walk.text_part, False), (walk.html_part, True)):
        if part is None:
            continue
        if _looks_binary(_payload_bytes(part)) and not _wide_charset(part, hints):
            result.defects.append("the message body is binary data, not text; kept as a file")
            _attach(
                walk, "body.bin", "application/octet-stream", _payload_bytes(part), "", inline=False
            )
            continue
        try:
            value = _part_text(part, hints, html=is_html)
        except Exception as exc:
            result.defects.append(
                f"the {'HTML' if is_html else 'text'} body could not be read ({type(exc).__name__})"
            )
            continue
        if is_html:
            result.html = value
        else:
            result.text = value
    if result.html and not result.text.strip():
        result.text = html_to_text(result.html)
    result.attachments = walk.attachments
    result.oversized = walk.oversized
    try:
        result.delivery_status = _delivery_status(walk, message)
    except Exception as exc:
        result.defects.append(f"the delivery report could not be read ({type(exc).__name__})")


_BINARY_BYTES = (
    bytes(range(0, 9)) + b"\x0e\x0f" + bytes(range(0x10, 0x1B)) + bytes(range(0x1C, 0x20))
)


def _looks_binary(data: bytes) -> bool:
    """Bytes no mail client sends as text: NULs, or many control characters."""
    sample = data[:8192]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return controls > max(8, len(sample) // 20)


def _wide_charset(part: Message, hints: tuple[str | None, ...]) -> bool:
    codec = normalize_charset(_content_type(part, hints)[1].get("charset"))
    return bool(codec) and str(codec).startswith(("utf-16", "utf-32"))


def _charset_hints(message: Message) -> tuple[str | None, ...]:
    hints: list[str] = []
    with contextlib.suppress(Exception):
        for index, part in enumerate(message.walk()):
            if index > 50 or len(hints) >= 2:
                break
            if part.is_multipart():
                continue
            raw = _raw_header(part, "content-type")
            if raw is None:
                continue
            _main, params = header_params(raw)
            label = params.get("charset")
            if label and normalize_charset(label) not in (None, "utf-8", "cp1252"):
                hints.append(label)
    return tuple(hints)


def _headers(result: ParsedEmail, message: Message, hints: tuple[str | None, ...]) -> None:
    seen: dict[str, str] = {}
    for key, value in message.raw_items():
        name = str(key).strip().lower()
        if name in seen:
            continue
        try:
            seen[name] = header_line(str(value), hints, _KEPT_HEADER_LIMIT)
        except Exception as exc:
            seen[name] = ""
            result.defects.append(f"the {name} header could not be read ({type(exc).__name__})")
    result.headers = seen

    def step(label: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:
            result.defects.append(f"the {label} header could not be read ({type(exc).__name__})")

    def subject() -> None:
        raw = _raw_header(message, "subject")
        if raw is not None:
            result.subject = header_line(raw, hints, 255)

    def sender() -> None:
        pairs = _addresses(_raw_headers(message, "from"), hints)
        if pairs:
            result.from_name, result.from_address = pairs[0]
        else:
            raw = _raw_header(message, "from")
            if raw:
                result.from_name = header_line(raw, hints, 255)
                result.defects.append("the sender address could not be read")

    def reply_to() -> None:
        pairs = _addresses(_raw_headers(message, "reply-to"), hints)
        if pairs:
            result.reply_to = pairs[0][1]

    def recipients() -> None:
        result.to = _addresses(_raw_headers(message, "to"), hints)
        result.cc = _addresses(_raw_headers(message, "cc"), hints)

    def ids() -> None:
        found = _ids(_raw_header(message, "message-id") or "")
        result.message_id = found[0] if found else ""
        result.in_reply_to = _ids(" ".join(_raw_headers(message, "in-reply-to")))
        result.references = _ids(" ".join(_raw_headers(message, "references")))

    def date() -> None:
        raw = _raw_header(message, "date")
        if raw:
            result.date = _date(raw)

    step("Subject", subject)
    step("From", sender)
    step("Reply-To", reply_to)
    step("To/Cc", recipients)
    step("Message-ID", ids)
    step("Date", date)
