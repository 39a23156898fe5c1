"""Django's Redis cache on the process's one Redis client (``apps.core.redis``).

Django's own backend builds a ``redis.Redis`` (and its response-callback
table) for every cache call, and under ASGI the cache object itself lives in
request-scoped storage, so its connection pools — and their TCP connections
and handshakes — were rebuilt on every request and never closed. Here every
cache object of the process, whatever request built it, talks through
``apps.core.redis.client_for(url)``: one bounded pool, connections reused.

That client decodes replies to ``str``; cache values are pickles, so the two
reads (``GET``, ``MGET``) ask for the raw reply. Keys are not checked for
memcached's character rules (Redis takes any key), which saves a scan of
every key on every call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient
from django.utils.functional import cached_property
from redis.client import NEVER_DECODE

from .redis import client_for


class RedisCacheClient(DjangoRedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return client_for(self._servers[self._get_connection_pool_index(write)])

    def get(self, key: Any, default: Any) -> Any:
        value = self.get_client(key).execute_command("GET", key, **{NEVER_DECODE: True})
        return default if value is None else self._serializer.loads(value)

    def get_many(self, keys: Any) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        values = self.get_client(None).execute_command("MGET", *keys, **{NEVER_DECODE: True})
        return {k: self._serializer.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}


_clients: dict[tuple, RedisCacheClient] = {}


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    @cached_property
    def _cache(self) -> RedisCacheClient:  # type: ignore[override]
        # one cache client per process and configuration, not one per request
        ident = (tuple(self._servers), repr(sorted(self._options.items())))
        client = _clients.get(ident)
        if client is None:
            client = _clients.setdefault(ident, RedisCacheClient(self._servers, **self._options))
        return client

    def validate_key(self, key: str) -> None:
        """Redis accepts any key: skip memcached's per-character checks."""


# --- request scope -------------------------------------------------------------------

_request_memo: ContextVar[dict | None] = ContextVar("colony_request_memo", default=None)


def request_memo() -> dict | None:
    """This request's memo (``None`` outside a request): values read once per request.

    Set by ``apps.core.middleware.RequestScopeMiddleware``; whoever caches a
    value here also drops it when the value changes mid-request.
    """
    return _request_memo.get()


@contextmanager
def request_scope() -> Iterator[dict]:
    token = _request_memo.set({})
    try:
        yield _request_memo.get()
    finally:
        _request_memo.reset(token)


# --- process-local throttles ---------------------------------------------------------


class LocalThrottle:
    """ "At most once per ``interval`` seconds per key" in this process's memory.

    For writes that are only bookkeeping (last-seen touches): most requests
    then skip even the Redis guard behind it. Bounded: past ``max_keys``
    entries the table starts over (a few early touches, never a missed rule).
    """

    _instances: ClassVar[list[LocalThrottle]] = []

    def __init__(self, interval: float, *, max_keys: int = 10_000) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._due: dict[Any, float] = {}
        self._instances.append(self)

    def due(self, name: Any) -> bool:
        """True (and the next one deferred) when ``name`` was not let through within the interval."""
        now = time.monotonic()
        if self._due.get(name, 0.0) > now:
            return False
        if len(self._due) >= self.max_keys:
            self._due.clear()
        self._due[name] = now + self.interval
        return True

    def forget(self, name: Any) -> None:
        self._due.pop(name, None)

    @classmethod
    def clear_all(cls) -> None:
        """Reset every throttle of the process (tests flush Redis; these go with it)."""
        for throttle in cls._instances:
            throttle._due.clear()
