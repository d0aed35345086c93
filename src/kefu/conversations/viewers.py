"""Who is looking at a conversation right now, so two agents never answer the same customer
twice. Soft state in the cache (shared through Redis when several processes run), refreshed by
each browser's ping and expiring by itself if a browser vanishes."""

from __future__ import annotations

import time

from django.core.cache import cache

TTL = 70  # seconds: a little over two pings


def _key(conversation_id: int) -> str:
    return f"kefu:viewers:{conversation_id}"


def join(conversation_id: int, channel_name: str, user_id: int, name: str) -> None:
    viewers = cache.get(_key(conversation_id), {})
    now = time.time()
    viewers = {k: v for k, v in viewers.items() if v[2] > now}
    viewers[channel_name] = (user_id, name, now + TTL)
    cache.set(_key(conversation_id), viewers, TTL)


def leave(conversation_id: int, channel_name: str) -> None:
    viewers = cache.get(_key(conversation_id), {})
    viewers.pop(channel_name, None)
    cache.set(_key(conversation_id), viewers, TTL)


def others(conversation_id: int, user_id: int) -> list[str]:
    """Names of the other agents viewing, each once."""
    now = time.time()
    names = {
        uid: name
        for uid, name, expires in cache.get(_key(conversation_id), {}).values()
        if expires > now and uid != user_id
    }
    return sorted(names.values())
