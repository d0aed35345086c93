"""A fixed-window counter in Django's cache (local memory, or Redis when configured)."""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache


def _key(scope: str, ident: str, window: int) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{int(time.time() // window)}"


def hit(scope: str, ident: str, limit: int, window: int) -> bool:
    """Count one attempt; return True while the caller is within ``limit`` per ``window``."""
    key = _key(scope, ident, window)
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=window + 1)
        count = 1
    return count <= limit


def exceeded(scope: str, ident: str, limit: int, window: int) -> bool:
    return int(cache.get(_key(scope, ident, window), 0)) >= limit


def client_address(meta: dict) -> str:
    return str(meta.get("REMOTE_ADDR") or "unknown")
