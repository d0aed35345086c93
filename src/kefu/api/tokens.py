"""API tokens: created once and shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone

from kefu.api.models import ApiToken

PREFIX = "kefu_"
MAX_KEY_LENGTH = 200
# last_used_at is for people ("is this token still in use?"), so a write per request is waste.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_token(user: Any, name: str = "") -> str:
    """Make a token for ``user`` and return its key: the only time the key is ever seen."""
    key = PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user, name=name.strip()[:100], key_prefix=key[:8], key_hash=hash_key(key)
    )
    return key


def revoke_token(token_id: int) -> bool:
    """Delete a token at once (its key stops working); False if there was none."""
    deleted, _ = ApiToken.objects.filter(pk=token_id).delete()
    return deleted > 0


def authenticate_token(key: str) -> Any | None:
    """The active user behind ``key``, or None. Loads the agent profile in the same query."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    token = (
        ApiToken.objects.select_related("user", "user__agent_profile")
        .filter(key_hash=hash_key(key))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token.user
