"""Raw test messages built by hand, byte for byte, as mail clients send them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime


def raw_email(
    *,
    sender: str = "wang.fang@example.cn",
    name: str = "王芳",
    to: str = "support@kefu.test",
    subject: str = "订单还没到",
    body: str = "你好，我的订单 KF-1001 一周了还没到。",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    cc: str = "",
    headers: dict[str, str] | None = None,
    html: str = "",
    charset: str = "utf-8",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{Header(name, 'utf-8').encode()} <{sender}>" if name else sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@mail.example.cn>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body, charset=charset)
    if html:
        msg.add_alternative(html, subtype="html")
    return bytes(msg)
