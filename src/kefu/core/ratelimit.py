"""A fixed-window counter in Django's cache (local memory, or Redis when configured)."""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


def _key(scope: str, ident: str, window: int) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{int(time.time() // window)}"


def hit(scope: str, ident: str, limit: int, window: int) -> bool:
    """Count one attempt; return True while the caller is within ``limit`` per ``window``."""
    return hit_many(scope, [ident], limit, window)[0]


def hit_many(scope: str, idents: list[str], limit: int, window: int) -> list[bool]:
    """:func:`hit` for each of ``idents`` in turn (one may come several times): on Redis one
    round trip for them all (the chat writer counts a whole batch of lines at once)."""
    keys = [_key(scope, ident, window) for ident in idents]
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return [_count(key, window) <= limit for key in keys]
    with backend._cache.get_client(write=True).pipeline(transaction=False) as pipe:
        for key in keys:
            made = backend.make_and_validate_key(key)
            pipe.incr(made)
            pipe.expire(made, window + 1, nx=True)  # the window's first hit sets its expiry
        replies = pipe.execute() if keys else []
    return [count <= limit for count in replies[::2]]


def _count(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window + 1)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=window + 1)
        return 1


def exceeded(scope: str, ident: str, limit: int, window: int) -> bool:
    return int(cache.get(_key(scope, ident, window), 0)) >= limit


def client_address(meta: dict) -> str:
    return str(meta.get("REMOTE_ADDR") or "unknown")
