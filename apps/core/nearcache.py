"""A process-local copy of the hottest Redis entries, kept true by Redis itself.

Every authenticated request reads the same few entries — its session, the
session's user pointer, the user, its network, its security state, an API
key's record — and each Redis round trip costs more CPU than the rest of the
lookup. ``near`` keeps copies of those entries in this process, using
Redis's server-assisted client-side caching: one connection per process
runs ``CLIENT TRACKING ON BCAST PREFIX …`` for the tracked prefixes
(``track()``), and Redis pushes an ``invalidate`` message on that connection
whenever any client changes, deletes or expires a key under them, or
flushes the database. A daemon thread (``_Tracker``) reads those pushes and
drops the copies. No writer has to remember to publish anything: whatever
changes the entry in Redis (our code, an admin, a TTL, ``FLUSHDB``) drops
the copies too.

How fresh a copy is:

* Redis writes the invalidation to our connection while it executes the
  write, before the writer has its reply, so by the time anything caused by
  that write reaches this process the push is (on any sane network) in our
  socket. A request trusts the copies only when the tracking connection is
  up, its socket holds no unread push and the tracker is not in the middle
  of applying one (``fresh()``); otherwise it reads Redis as before.
* A value read from Redis is stored only if no invalidation of that key
  was applied since the read began (``generation``) and none is pending —
  so a write racing the read can never leave an old copy behind, while
  writes to other keys do not stop this one being kept.
* Absent entries are cached too (``ABSENT``): creating the key is a write
  under a tracked prefix, which invalidates the absence like any change.
* Copies also expire after ``NEAR_CACHE_TTL`` seconds and the table holds at
  most ``NEAR_CACHE_MAX_ENTRIES``; when the tracking connection drops, every
  copy is discarded and requests read Redis until it is back.

Values are the raw bytes Redis returned, decoded by the caller per request,
so no request ever shares a mutable object with another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

#: a cached "this key does not exist in Redis"
ABSENT = object()
_MISS = None
_RECENT_LIMIT = 50_000


class NearCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, float]] = {}
        self._prefixes: set[str] = set()
        self._lock = threading.Lock()
        self._tracker: _Tracker | None = None
        self._pid = 0
        #: bumped by the tracker for every invalidation applied (and on connect / disconnect)
        self.generation = 0
        #: keys invalidated lately → the generation that applied it; reads begun before ``_floor`` keep nothing
        self._recent: dict[str, int] = {}
        self._floor = 0
        self.live = False
        self.busy = False  # the tracker is applying pushes it has read
        self._fd = -1

    # --- configuration -------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return bool(getattr(settings, "NEAR_CACHE_ENABLED", True))

    def track(self, *prefixes: str) -> None:
        """Keep copies of keys under these prefixes (idempotent; a new prefix restarts tracking)."""
        new = set(prefixes) - self._prefixes
        if not new:
            return
        with self._lock:
            self._prefixes |= new
            tracker = self._tracker
        if tracker is not None:
            tracker.restart()

    def _ensure_tracker(self) -> None:
        pid = os.getpid()
        if self._pid == pid and self._tracker is not None:
            return
        with self._lock:
            if self._pid == pid and self._tracker is not None:
                return
            # a fresh process (first use, or a fork: the parent's thread and socket are not ours)
            self._set_live(False)
            self.busy = False
            self._pid = pid
            self._tracker = _Tracker(self)
            self._tracker.start()

    # --- reading -----------------------------------------------------------------------

    def begin(self) -> int | None:
        """The generation to pass to ``put`` for values about to be read from Redis; None: copies are off.

        Also answers whether the copies may be trusted right now (``fresh``).
        """
        if not self.enabled:
            return None
        self._ensure_tracker()
        generation = self.generation
        if not self.fresh():
            return None
        return generation

    def fresh(self) -> bool:
        """Tracking is up and every invalidation Redis sent us has been applied."""
        if not self.live:
            return False
        fd = self._fd
        try:
            readable = select.select((fd,), (), (), 0)[0]
        except (OSError, ValueError):
            return False
        # socket first, then the flag: the tracker sets ``busy`` before it consumes the socket
        return not readable and not self.busy

    def get(self, name: str) -> Any:
        """The copy of ``name`` (bytes, or ``ABSENT``), or None when there is none. Call after ``begin()``."""
        entry = self._entries.get(name)
        if entry is None:
            return _MISS
        value, expires = entry
        if expires < time.monotonic():
            self._entries.pop(name, None)
            return _MISS
        return value

    def put(self, values: Mapping[str, Any], generation: int | None) -> None:
        """Store what was just read from Redis (None → ``ABSENT``), but no key invalidated meanwhile.

        ``generation`` is ``begin()``'s: a key whose invalidation was applied
        after it (``_recent``) may have been read before the write, so it is
        not kept; the others are. Pushes still unread (``fresh()`` false)
        keep nothing.
        """
        if generation is None or generation < self._floor or not self.fresh():
            return
        entries, recent = self._entries, self._recent
        limit = int(getattr(settings, "NEAR_CACHE_MAX_ENTRIES", 10_000))
        expires = time.monotonic() + float(getattr(settings, "NEAR_CACHE_TTL", 30))
        for name, value in values.items():
            if recent.get(name, 0) > generation:
                continue
            if len(entries) >= limit:
                try:
                    entries.pop(next(iter(entries)))  # the oldest copy
                except (StopIteration, KeyError, RuntimeError):
                    pass
            entries[name] = (ABSENT if value is None else value, expires)
        # an invalidation applied while storing (the tracker marks ``_recent`` before it drops the
        # copy, so either it drops what was just stored or this sees its mark): re-check every key
        floor_passed = generation < self._floor
        for name in values:
            if floor_passed or recent.get(name, 0) > generation:
                entries.pop(name, None)

    # --- invalidation (tracker thread) ----------------------------------------------------

    def _invalidate(self, names: Iterable[Any] | None) -> None:
        self.generation += 1
        if names is None:
            self._forget_all()
            return
        generation, entries, recent = self.generation, self._entries, self._recent
        if len(recent) > _RECENT_LIMIT:  # older reads than the floor keep nothing
            recent.clear()
            self._floor = generation
        for name in names:
            name = name.decode() if isinstance(name, bytes) else name
            recent[name] = generation
            entries.pop(name, None)

    def _forget_all(self) -> None:
        self.generation += 1
        self._floor = self.generation  # anything read before now is not kept
        self._entries.clear()
        self._recent.clear()

    def _set_live(self, live: bool, fd: int = -1) -> None:
        self.live = False
        self._forget_all()
        self._fd = fd
        self.live = live

    def clear(self) -> None:
        self._forget_all()

    def __len__(self) -> int:
        return len(self._entries)

    def stop(self) -> None:
        """Stop tracking (shutdown; tests)."""
        with self._lock:
            tracker, self._tracker = self._tracker, None
            self._pid = 0
        if tracker is not None:
            tracker.stop()
        self._set_live(False)


class _Tracker(threading.Thread):
    """One tracking connection: ``CLIENT TRACKING ON BCAST``, its pushes applied to the cache."""

    PING_EVERY = 5.0  # seconds without a push before the connection is checked

    def __init__(self, cache: NearCache) -> None:
        super().__init__(name="near-cache-tracker", daemon=True)
        self.cache = cache
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._conn: Any = None

    def stop(self) -> None:
        self._interrupt(self._stop)

    def restart(self) -> None:
        self._interrupt(self._restart)

    def _interrupt(self, event: threading.Event) -> None:
        event.set()
        self.cache._set_live(False)  # before the socket closes: its descriptor may be reused
        self._close()

    def _close(self) -> None:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.disconnect()

    def run(self) -> None:
        import redis

        backoff, refused = 0.1, False
        while not self._stop.is_set():
            self._restart.clear()
            try:
                self._track()
                backoff, refused = 0.1, False
            except redis.ResponseError as exc:  # the server refuses tracking (Redis < 6, an ACL): say so once
                if not refused:
                    logger.warning(
                        "near cache: Redis refused CLIENT TRACKING (%s); reading Redis directly", exc
                    )
                refused, backoff = True, 60.0
            except Exception as exc:  # noqa: BLE001 — any failure: copies off, retry
                if not self._stop.is_set() and not self._restart.is_set():
                    logger.warning("near cache: tracking connection lost (%s); reading Redis directly", exc)
            finally:
                self.cache._set_live(False)
                self._close()
                self._conn = None
            if self._stop.wait(0 if self._restart.is_set() else backoff):
                return
            backoff = backoff if refused else min(backoff * 2, 5.0)

    def _connect(self) -> Any:
        from .redis import CLIENT_NAME, get_redis

        pool = get_redis().connection_pool
        kwargs = {
            **pool.connection_kwargs,
            "protocol": 3,
            "health_check_interval": 0,
            "client_name": f"{CLIENT_NAME}-near-cache",
            "socket_timeout": None,
        }
        for unused in ("maint_notifications_pool_handler", "maint_notifications_config"):
            kwargs.pop(unused, None)
        conn = pool.connection_class(**kwargs)
        conn.connect()
        return conn

    def _track(self) -> None:
        import redis

        conn = self._conn = self._connect()
        conn._parser.invalidation_push_handler_func = self._on_push
        prefixes = _disjoint(self.cache._prefixes)
        command = ["CLIENT", "TRACKING", "ON", "BCAST"]
        for prefix in prefixes:
            command += ["PREFIX", prefix]
        conn.send_command(*command)
        reply = conn.read_response()
        if reply not in (b"OK", "OK"):
            raise redis.ResponseError(f"CLIENT TRACKING answered {reply!r}")
        sock = conn._sock
        self.cache._set_live(bool(prefixes), sock.fileno())
        while not self._stop.is_set() and not self._restart.is_set():
            readable = select.select((sock,), (), (), self.PING_EVERY)[0]
            if self._stop.is_set() or self._restart.is_set():
                return
            if not readable:
                conn.send_command("PING")
                self.cache.busy = True
                try:
                    while True:
                        reply = conn.read_response(push_request=True)
                        if reply in (b"PONG", "PONG"):
                            break
                finally:
                    self.cache.busy = False
                continue
            self.cache.busy = True
            try:
                conn.read_response(push_request=True)
                while conn._parser.can_read(timeout=0):
                    conn.read_response(push_request=True)
            finally:
                self.cache.busy = False

    def _on_push(self, response: list[Any]) -> None:
        # ["invalidate", [key, …]] or ["invalidate", None] (a flush)
        self.cache._invalidate(response[1] if len(response) > 1 else None)


def _disjoint(prefixes: Iterable[str]) -> list[str]:
    """The prefixes without any that a shorter one covers (Redis refuses overlapping prefixes)."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes), key=len):
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return sorted(kept)


#: the process's near cache
near = NearCache()
