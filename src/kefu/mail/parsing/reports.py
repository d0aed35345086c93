"""Bounces (RFC 3464): what a delivery-status report says about one of our messages."""

from __future__ import annotations

import re
from email.message import Message

from kefu.mail.parsing.addresses import clean_address
from kefu.mail.parsing.decoding import decode_bytes
from kefu.mail.parsing.headers import _ids, _unfold, one_line
from kefu.mail.parsing.mime import _payload_bytes, _raw_header, _Walk
from kefu.mail.parsing.model import DeliveryStatus

_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def _report_text(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # the standard library parsed the blocks as header sets
        blocks = []
        for block in payload:
            if isinstance(block, Message):
                blocks.append("\n".join(f"{k}: {_unfold(str(v))}" for k, v in block.raw_items()))
        return "\n\n".join(blocks)
    return decode_bytes(_payload_bytes(part), None)


def _fields_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip().lower()
            current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _after_type(value: str) -> str:
    """ "rfc822; user@example.com" -> "user@example.com"."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _delivery_status(walk: _Walk, root: Message) -> DeliveryStatus | None:
    status_parts = [
        p
        for ctype, p, parent in walk.reports
        if ctype in ("message/delivery-status", "message/global-delivery-status")
        and parent == "multipart/report"
    ]
    if not status_parts:
        return None
    recipients: list[dict[str, str]] = []
    for part in status_parts:
        for block in _fields_blocks(_report_text(part)):
            if "final-recipient" in block or "original-recipient" in block:
                recipients.append(block)
    chosen: dict[str, str] = {}
    for test in (
        lambda b: b.get("action", "").lower().startswith("failed"),
        lambda b: b.get("status", "").strip().startswith("5"),
        lambda b: True,
    ):
        chosen = next((b for b in recipients if test(b)), {})
        if chosen:
            break
    recipient = _after_type(chosen.get("final-recipient") or chosen.get("original-recipient") or "")
    recipient = clean_address(recipient) or one_line(recipient, 254)
    status_raw = chosen.get("status", "")
    code = _STATUS_CODE.search(status_raw)
    status = code.group(1) if code else one_line(status_raw, 32)
    diagnostic = one_line(_after_type(chosen.get("diagnostic-code", "")), 1000)
    return DeliveryStatus(
        original_message_id=_original_message_id(walk),
        recipient=recipient,
        status=status,
        diagnostic=diagnostic,
    )


def _original_message_id(walk: _Walk) -> str:
    for inner, parent in walk.forwarded:
        if parent == "multipart/report":
            ids = _ids(_raw_header(inner, "message-id") or "")
            if ids:
                return ids[0]
    for ctype, part, parent in walk.reports:
        if parent != "multipart/report" or "headers" not in ctype:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            ids = _ids(_raw_header(payload[0], "message-id") or "")
            if ids:
                return ids[0]
            continue
        text = decode_bytes(_payload_bytes(part), None)
        match = re.search(r"(?im)^message-id:[ \t]*(.*(?:\r?\n[ \t]+.*)*)", text)
        if match:
            ids = _ids(match.group(1))
            if ids:
                return ids[0]
    return ""
