"""The Redis cache keeps one client per server and still behaves as Django's cache."""

import os

import pytest
import redis

from portal.core.redis_cache import KeptClientRedisCache

REDIS = os.environ.get("REDIS_URL", "")


@pytest.fixture
def cache():
    if not REDIS.startswith("redis://"):
        pytest.skip("needs Redis: run with REDIS_URL=redis://... (CI's second run does)")
    backend = KeptClientRedisCache(REDIS, {"KEY_PREFIX": "redis-cache-test"})
    yield backend
    backend.delete_many(["a", "n", "gone"])


def test_one_client_serves_every_call(cache):
    first = cache._cache.get_client("a")
    assert cache._cache.get_client("b") is first
    assert cache._cache.get_client("a", write=True) is first  # one server: one pool
    assert isinstance(first, redis.Redis)


def test_it_is_still_a_cache(cache):
    cache.set("a", {"value": 1}, 30)
    assert cache.get("a") == {"value": 1}
    assert cache.add("n", 1, 30) is True
    assert cache.add("n", 5, 30) is False
    assert cache.incr("n") == 2
    cache.delete("a")
    assert cache.get("a") is None
    assert cache.get("gone", "default") == "default"
