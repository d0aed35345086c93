"""The JSON a visitor's widget (and an agent's chat panel) receives; see docs/livechat.md."""

from __future__ import annotations

from typing import Any

from django.core import signing

from kefu.conversations.models import Message
from kefu.livechat.models import ChatSession
from kefu.staff.models import AgentProfile

VISIBLE = (Message.Direction.IN, Message.Direction.OUT)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
FILE_SALT = "kefu.livechat.file"


def file_url(site_key: str, attachment_id: int) -> str:
    """A capability URL: whoever has the chat has its files; nobody can guess another's."""
    signed = signing.Signer(salt=FILE_SALT).sign(str(attachment_id))
    return f"/chat/w/{site_key}/files/{signed}"


def agent_name(user_id: int | None) -> str:
    if user_id is None:
        return ""
    profile = AgentProfile.objects.filter(user_id=user_id).select_related("user").first()
    return profile.name if profile is not None else ""


def message_object(
    message: Message,
    site_key: str,
    *,
    names: dict[int, str] | None = None,
    attachments: bool = True,
) -> dict[str, Any]:
    """``attachments=False`` for a line just stored without any (saves the query)."""
    if message.direction == Message.Direction.IN:
        sender, author = "visitor", ""
    elif message.author_agent_id is not None:
        sender = "agent"
        names = names if names is not None else {}
        if message.author_agent_id not in names:
            names[message.author_agent_id] = agent_name(message.author_agent_id)
        author = names[message.author_agent_id]
    else:
        sender, author = "system", ""
    return {
        "id": message.pk,
        "cid": (message.metadata or {}).get("cid", ""),
        "from": sender,
        "author": author,
        "text": message.body_text,
        "html": message.body_html,
        "at": message.created_at.isoformat(),
        "attachments": [
            {
                "name": a.filename,
                "size": a.size,
                "url": file_url(site_key, a.pk),
                "image": a.content_type in IMAGE_TYPES,
            }
            for a in (message.attachments.all() if attachments else ())
        ],
    }


def history(session: ChatSession, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    messages = (
        Message.objects.filter(
            conversation_id=session.conversation_id, direction__in=VISIBLE, pk__gt=after
        )
        .prefetch_related("attachments")
        .order_by("id")[:limit]
    )
    names: dict[int, str] = {}
    return [message_object(m, session.widget.site_key, names=names) for m in messages]
