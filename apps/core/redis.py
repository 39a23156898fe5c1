"""The process-wide Redis client (hot counters, rate limits, caches of lookups)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


def get_redis() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def key(*parts: object) -> str:
    return "colony:" + ":".join(str(p) for p in parts)


_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@contextmanager
def lock(name: str, *, ttl: int) -> Iterator[bool]:
    """A best-effort mutex: yields whether it was acquired; released only by its owner.

    Expires after ``ttl`` seconds so a crashed holder cannot block forever.
    """
    client = get_redis()
    token = secrets.token_hex(8)
    acquired = bool(client.set(name, token, nx=True, ex=ttl))
    try:
        yield acquired
    finally:
        if acquired:
            client.eval(_RELEASE, 1, name, token)
