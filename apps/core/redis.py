"""The process's Redis client: one connection pool per process (and one per event loop).

Everything that talks to Redis goes through ``get_redis()``: the Django cache
(``apps.core.cache``, and through it cached_db sessions and allauth's rate
limits), ``apps.core.ratelimit``, the API-key and session principal caches
(``apps.apikeys.hotpath``, ``apps.accounts.principals``), locks and the
health checks. One ``redis.Redis`` over one bounded ``BlockingConnectionPool``
per URL per process: connections are opened once and reused by every request
and thread (redis-py pools are thread-safe and reset themselves after a
fork), so a request never pays a TCP connect, ``HELLO``/``CLIENT SETINFO``/
``SELECT`` handshake or a new client's set-up. Async code uses
``get_async_redis()``: one client per event loop (asyncio connections belong
to the loop that opened them). ``close_all()`` disconnects them; it runs at
interpreter exit, on the ASGI lifespan shutdown (``config.asgi``) and when a
Celery worker stops (``config.celery``).

The client decodes replies to ``str``. Binary values (pickles written by the
cache and the principal caches) are read with ``raw=True`` helpers below,
which skip decoding for that one reply.
"""

from __future__ import annotations

import atexit
import secrets
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio
from django.conf import settings
from redis.client import NEVER_DECODE
from redis.exceptions import NoScriptError

#: name on every connection (``CLIENT LIST``): tells ours from channels' and Celery's
CLIENT_NAME = "colony"

_clients: dict[str, redis.Redis] = {}
_async_clients: weakref.WeakKeyDictionary[Any, dict[str, redis.asyncio.Redis]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _pool_options() -> dict[str, Any]:
    return {
        "max_connections": int(getattr(settings, "REDIS_MAX_CONNECTIONS", 50)),
        "timeout": 10,  # seconds a thread waits for a free connection when all are busy
        "decode_responses": True,
        "health_check_interval": 30,
        "client_name": CLIENT_NAME,
        "socket_keepalive": True,
    }


def client_for(url: str) -> redis.Redis:
    """The process-wide client of ``url`` (created on first use)."""
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                pool = redis.BlockingConnectionPool.from_url(url, **_pool_options())
                client = _clients[url] = redis.Redis(connection_pool=pool)
    return client


def get_redis() -> redis.Redis:
    return client_for(settings.REDIS_URL)


def get_async_redis() -> redis.asyncio.Redis:
    """The client of the running event loop (connections never cross loops)."""
    import asyncio

    loop = asyncio.get_running_loop()
    per_loop = _async_clients.setdefault(loop, {})
    url = settings.REDIS_URL
    client = per_loop.get(url)
    if client is None:
        options = _pool_options()
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, **options)
        client = per_loop[url] = redis.asyncio.Redis(connection_pool=pool)
    return client


def pool_size() -> int:
    """Most connections one process's sync pool opens (``REDIS_MAX_CONNECTIONS``)."""
    return int(_pool_options()["max_connections"])


def close_all() -> None:
    """Disconnect every sync pool of this process, and the near cache's tracking connection (shutdown; tests).

    The near cache starts tracking again on its next use.
    """
    from .nearcache import near

    near.stop()
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.connection_pool.disconnect()


async def aclose_loop_clients() -> None:
    """Disconnect the running loop's async clients (ASGI lifespan shutdown)."""
    import asyncio

    for client in _async_clients.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose(close_connection_pool=True)


atexit.register(close_all)


def raw(command: str, *args: Any) -> Any:
    """Run one command and return its reply undecoded (bytes): for pickled values."""
    return get_redis().execute_command(command, *args, **{NEVER_DECODE: True})


def get_raw(name: str) -> bytes | None:
    return raw("GET", name)


class Script:
    """A Lua script run by ``EVALSHA`` (loaded once per server), replies optionally undecoded.

    redis-py's ``register_script`` decodes every reply; hot paths that return
    pickles call ``Script(...)(keys, args, raw=True)``.
    """

    def __init__(self, source: str) -> None:
        import hashlib

        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, keys: Sequence[Any], args: Sequence[Any], *, raw: bool = False) -> Any:
        client = get_redis()
        options = {NEVER_DECODE: True} if raw else {}
        try:
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args, **options)
        except NoScriptError:
            client.execute_command("SCRIPT", "LOAD", self.source)
            options = {NEVER_DECODE: True} if raw else {}
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args, **options)


class Ahead:
    """Commands sent now, their replies read later: a Redis round trip overlapped with other I/O.

    ``Ahead(commands)`` writes the commands on a connection of the pool at
    once and returns; ``result()`` reads their replies (one list, in order)
    and gives the connection back. The caller does something slow in between
    (a SQL statement), so Redis answers while PostgreSQL works and the read
    costs no round trip of its own. If anything goes wrong (a connection
    error, ``result()`` never called before ``close()``), the connection is
    dropped rather than returned with unread replies, and ``result()`` runs
    the commands the ordinary way once.
    """

    __slots__ = ("_commands", "_conn", "_pool")

    def __init__(self, commands: Sequence[tuple[Any, ...]]) -> None:
        self._commands = list(commands)
        self._pool = get_redis().connection_pool
        self._conn = None
        if not self._commands:
            return
        conn = self._pool.get_connection()
        try:
            conn.send_packed_command(conn.pack_commands(self._commands))
        except (redis.RedisError, OSError):
            self._discard(conn)
            return
        self._conn = conn

    def _discard(self, conn: Any) -> None:
        try:
            conn.disconnect()
        finally:
            self._pool.release(conn)

    def result(self) -> list[Any]:
        conn, self._conn = self._conn, None
        if not self._commands:
            return []
        if conn is not None:
            try:
                replies = [conn.read_response() for _ in self._commands]
            except (redis.RedisError, OSError):
                self._discard(conn)
            else:
                self._pool.release(conn)
                return replies
        pipe = get_redis().pipeline(transaction=False)
        for command in self._commands:
            pipe.execute_command(*command)
        return pipe.execute()

    def close(self) -> None:
        """Give up on the replies (the caller failed before reading them)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._discard(conn)


def key(*parts: object) -> str:
    """A key of ours: ``<REDIS_KEY_PREFIX>:<part>:<part>…`` (``colony:…`` by default)."""
    return f"{settings.REDIS_KEY_PREFIX}:" + ":".join(str(p) for p in parts)


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
