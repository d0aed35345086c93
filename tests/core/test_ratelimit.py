"""The fixed-window rate limit, counted one at a time and a batch at a time, in local memory
and in a real Redis (the cache of several processes)."""

from __future__ import annotations

import secrets

import pytest
from django.core.cache import caches
from django.test import override_settings

from kefu.core import ratelimit
from tests.core.services import redis_up

REDIS_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/14",
        "KEY_PREFIX": "kefu-test",
    }
}


def check_batches_count_like_single_hits() -> None:
    scope = f"test-{secrets.token_hex(4)}"
    hour = 3600  # a window that does not turn over during the test (but at the full hour)
    assert ratelimit.hit_many(scope, [], 3, hour) == []
    assert ratelimit.hit_many(scope, ["a", "b", "a"], 3, hour) == [True, True, True]
    assert ratelimit.hit(scope, "a", 3, hour) is True  # a's third attempt
    assert ratelimit.hit_many(scope, ["a", "b", "b", "c"], 3, hour) == [False, True, True, True]
    assert ratelimit.exceeded(scope, "b", 3, hour)
    assert not ratelimit.exceeded(scope, "c", 3, hour)


def test_a_batch_counts_as_its_hits_one_by_one_in_local_memory() -> None:
    check_batches_count_like_single_hits()


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_a_batch_counts_in_one_round_trip_in_redis_and_the_window_expires() -> None:
    with override_settings(CACHES=REDIS_CACHE):
        try:
            check_batches_count_like_single_hits()
            scope = f"test-{secrets.token_hex(4)}"
            ratelimit.hit_many(scope, ["x", "x"], 3, 60)
            backend = caches["default"]
            key = backend.make_and_validate_key(ratelimit._key(scope, "x", 60))
            ttl = backend._cache.get_client(key).ttl(key)  # type: ignore[attr-defined]
            assert 0 < ttl <= 61  # set by the first hit of the window, kept by the second
        finally:
            caches["default"].clear()
            caches.close_all()
