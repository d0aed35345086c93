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
    key = _key(scope, ident, window)
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=window + 1)
        count = 1
    return count <= limit


def hit_many(scope: str, idents: list[str], limit: int, window: int) -> list[bool]:
    """:func:`hit` for each of ``idents`` in turn (one may come several times), in one round
    trip when the cache is Redis (the chat writer counts a whole batch of lines at once)."""
    backend = caches["default"]
    if not idents or not isinstance(backend, RedisCache):
        return [hit(scope, ident, limit, window) for ident in idents]
    keys = [backend.make_and_validate_key(_key(scope, ident, window)) for ident in idents]
    with backend._cache.get_client(write=True).pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window + 1, nx=True)  # as add(): the window's first hit sets it
        replies = pipe.execute()
    return [count <= limit for count in replies[::2]]


def exceeded(scope: str, ident: str, limit: int, window: int) -> bool:
    return int(cache.get(_key(scope, ident, window), 0)) >= limit


def client_address(meta: dict) -> str:
    return str(meta.get("REMOTE_ADDR") or "unknown")
