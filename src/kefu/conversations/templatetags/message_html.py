from __future__ import annotations

import re
from typing import Any

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

CID = re.compile(r"""(src\s*=\s*["'])cid:([^"']+)(["'])""", re.I)


@register.filter
def message_html(message: Any) -> SafeString:
    """The stored (sanitized) HTML, with inline ``cid:`` images pointing at their attachment."""
    html = message.body_html or ""
    names = (message.metadata or {}).get("cid") or {}
    if "cid:" not in html or not names:
        return mark_safe(html)  # noqa: S308  (sanitized with nh3 before it was stored)
    by_name = {a.filename: a for a in message.attachments.all()}

    def swap(match: re.Match[str]) -> str:
        attachment = by_name.get(names.get(match.group(2), ""))
        if attachment is None:
            return match.group(0)
        url = reverse("attachment", args=[message.conversation_id, attachment.pk])
        return f"{match.group(1)}{url}?inline=1{match.group(3)}"

    return mark_safe(CID.sub(swap, html))  # noqa: S308
