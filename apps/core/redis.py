"""The process-wide Redis client (hot counters, rate limits, caches of lookups)."""

from __future__ import annotations

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
