"""Per-key rate limit and usage counters on Redis: the request hot path writes no SQL.

Layout (one hash slot, ``{apikeys}``, so the Lua drain also runs on a cluster):

* ``colony:{apikeys}:usage:<hour epoch>`` — hash per hour, fields
  ``<key id>:r`` (requests), ``:e`` (error responses), ``:t`` (throttled);
* ``colony:{apikeys}:usage:hours`` — set of hours that have a hash.

A request costs one pipelined round trip (rate-limit INCR, usage HINCRBY, the
once-a-minute last-used guard ``SET NX EX 60``). ``drain`` is the rollup's
atomic read-and-reset (HGETALL + DEL in one Lua script); a failed database
write puts the counts back with ``restore``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.core.ratelimit import Rate
from apps.core.redis import get_redis, key

logger = logging.getLogger(__name__)

HOURS = key("{apikeys}", "usage", "hours")
USAGE_TTL_SECONDS = 7 * 86400  # a hash nobody drains (beat down for a week) expires
LAST_USED_INTERVAL = 60
FIELDS = {"r": "request_count", "e": "error_count", "t": "throttled_count"}

#: (key id, hour epoch) → {"r": n, "e": n, "t": n}
Counts = dict[tuple[str, int], dict[str, int]]


def hour_key(hour: int) -> str:
    return key("{apikeys}", "usage", hour)


def current_hour(now: float | None = None) -> int:
    now = time.time() if now is None else now
    return int(now) // 3600 * 3600


def rate_bucket(key_id: Any) -> str:
    """The ``apps.core.ratelimit`` bucket of a key (``ratelimit.peek/reset`` work on it)."""
    return f"apikey:{key_id}"


def key_rate() -> Rate:
    return Rate(limit=int(settings.API_KEY_RATE_LIMIT_PER_MINUTE), window=60)


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    retry_after: int
    hour: int
    touch_last_used: bool


def admit(key_id: Any) -> Admission:
    """Count a request of the key; rate-limit it; say whether last_used is due (one round trip)."""
    rate = key_rate()
    now = int(time.time())
    rl_name = key("rl", rate_bucket(key_id), rate.window_start(now))
    hour = current_hour(now)
    usage_name = hour_key(hour)
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(rl_name)
    pipe.expire(rl_name, rate.window + 1)
    pipe.hincrby(usage_name, f"{key_id}:r", 1)
    pipe.expire(usage_name, USAGE_TTL_SECONDS)
    pipe.sadd(HOURS, hour)  # after HINCRBY: a drain in between leaves no orphan hash
    pipe.set(key("apikeys", "last-used", key_id), 1, nx=True, ex=LAST_USED_INTERVAL)
    count, _, _, _, _, touch = pipe.execute()
    allowed = int(count) <= rate.limit
    if not allowed:
        _incr(key_id, hour, "t")
    return Admission(
        allowed=allowed,
        retry_after=rate.retry_after(now),
        hour=hour,
        touch_last_used=bool(touch) and allowed,
    )


class _Window:
    """This process's share of one key's rate-limit window: tokens claimed from Redis, tokens spent."""

    __slots__ = ("claims", "exhausted", "granted", "spent", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.granted = self.spent = self.claims = 0
        self.exhausted = False  # Redis's counter passed the limit: nothing more to claim this window


class Meter:
    """The key's rate limit and usage counters, charged in this process and settled with Redis in batches.

    A warm API-key request whose principal is in the near cache
    (``apps.apikeys.hotpath``) is admitted here with no round trip:

    * **rate limit** — the limit stays global (one Redis counter per key and
      window, the same the Lua path INCRs): a process claims tokens from it
      with ``INCRBY`` and spends them locally. Claims start at one token and
      double while the key keeps coming (capped at ``limit // 64``, at most
      1024), so a quiet key is counted exactly and a busy one costs a round
      trip per claim. Tokens a process claimed but did not spend are wasted
      for that window, never granted twice: the global count never admits
      more than the limit.
    * **usage** — requests and throttled counts accumulate in memory and are
      written to the hour hashes (``HINCRBY``) with the next claim, by a
      flusher thread every ``FLUSH_INTERVAL`` seconds, at process exit, and
      before ``drain``/``pending`` read them. A flush that fails keeps its
      counts for the next one; a process killed with ``SIGKILL`` loses at
      most its last second of counts.
    * **last used** — each process lets a key through to the Redis
      once-a-minute guard at most once a minute.
    """

    FLUSH_INTERVAL = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._counts: Counts = defaultdict(dict)
        self._touched: dict[str, float] = {}
        self._pid = 0
        self._wake = threading.Event()

    def _ensure_flusher(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            self._pid = pid
            # a fork's copy of the parent's state is not ours
            self._windows, self._counts, self._touched = {}, defaultdict(dict), {}
            threading.Thread(target=self._flush_forever, name="apikey-usage-flusher", daemon=True).start()

    def _flush_forever(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            self._wake.wait(self.FLUSH_INTERVAL)
            self._wake.clear()
            with contextlib.suppress(Exception):  # kept for the next flush (logged by flush)
                self.flush()

    def admit(self, key_id: str) -> Admission:
        self._ensure_flusher()
        rate = key_rate()
        now = int(time.time())
        start, hour = rate.window_start(now), current_hour(now)
        with self._lock:
            window = self._windows.get(key_id)
            if window is None or window.start != start:
                window = self._windows[key_id] = _Window(start)
            allowed = self._spend(window)
            touch = now - self._touched.get(key_id, 0) >= LAST_USED_INTERVAL
            if touch:
                self._touched[key_id] = now
        touched = False
        if allowed is None or touch:
            allowed, touched = self._settle(key_id, window, rate, start, claim=allowed is None, touch=touch)
        with self._lock:
            slot = self._counts[(key_id, hour)]
            slot["r"] = slot.get("r", 0) + 1
            if not allowed:
                slot["t"] = slot.get("t", 0) + 1
        return Admission(
            allowed=bool(allowed),
            retry_after=rate.retry_after(now),
            hour=hour,
            touch_last_used=touched and bool(allowed),
        )

    @staticmethod
    def _spend(window: _Window) -> bool | None:
        """True: spent a token; False: the window is spent; None: a claim is needed."""
        if window.spent < window.granted:
            window.spent += 1
            return True
        return False if window.exhausted else None

    def _settle(
        self, key_id: str, window: _Window, rate: Rate, start: int, *, claim: bool, touch: bool
    ) -> tuple[bool | None, bool]:
        """One round trip: claim tokens (if needed), the last-used guard (if due), pending usage."""
        chunk = min(1024, max(1, rate.limit // 64), 1 << min(window.claims, 10)) if claim else 0
        pipe = get_redis().pipeline(transaction=False)
        if claim:
            name = key("rl", rate_bucket(key_id), start)
            pipe.incrby(name, chunk)
            pipe.expire(name, rate.window + 1)
        if touch:
            pipe.set(key("apikeys", "last-used", key_id), 1, nx=True, ex=LAST_USED_INTERVAL)
        counts = self._take_counts()
        _write_counts(pipe, counts)
        try:
            replies = pipe.execute()
        except Exception:
            self._put_back(counts)
            raise
        touched = bool(replies[2 if claim else 0]) if touch else False
        allowed: bool | None = True
        with self._lock:
            if claim:
                total = int(replies[0])
                usable = max(0, min(total, rate.limit) - (total - chunk))
                window.claims += 1
                window.granted += usable
                if total >= rate.limit:
                    window.exhausted = True
                allowed = self._spend(window)
                if allowed is None:  # claimed tokens went to concurrent requests: the window is busy
                    allowed = False
        return allowed, touched

    def _take_counts(self) -> Counts:
        with self._lock:
            counts, self._counts = self._counts, defaultdict(dict)
        return counts

    def _put_back(self, counts: Counts) -> None:
        with self._lock:
            for slot_key, values in counts.items():
                slot = self._counts[slot_key]
                for kind, value in values.items():
                    slot[kind] = slot.get(kind, 0) + value

    def reset(self, key_id: str | None = None) -> None:
        """Forget this process's windows and last-used throttle of a key, or of all (support tooling, tests)."""
        with self._lock:
            if key_id is None:
                self._windows.clear()
                self._touched.clear()
            else:
                self._windows.pop(str(key_id), None)
                self._touched.pop(str(key_id), None)

    def discard(self) -> None:
        """Drop everything this process holds — unflushed counts included (tests start clean)."""
        self.reset()
        self._take_counts()

    def flush(self) -> None:
        """Write the counts charged in this process to the hour hashes (kept if Redis fails)."""
        counts = self._take_counts()
        if not counts:
            return
        pipe = get_redis().pipeline(transaction=False)
        _write_counts(pipe, counts)
        try:
            pipe.execute()
        except Exception:
            self._put_back(counts)
            logger.warning("API key usage: flush failed; %d counters kept for the next one", len(counts))
            raise


def _write_counts(pipe: Any, counts: Counts) -> None:
    """Add ``counts`` to the hour hashes, on ``pipe`` (the meter's flushes and claims, ``restore``, ``_incr``)."""
    for (key_id, hour), values in counts.items():
        name = hour_key(hour)
        for kind, value in values.items():
            if value:
                pipe.hincrby(name, f"{key_id}:{kind}", value)
        pipe.expire(name, USAGE_TTL_SECONDS)
        pipe.sadd(HOURS, hour)  # after HINCRBY: a drain in between leaves no orphan hash


#: this process's meter (``hotpath`` admits warm keys through it)
meter = Meter()


def _flush_at_exit() -> None:
    if meter._pid == os.getpid():
        with contextlib.suppress(Exception):  # Redis gone at exit: nothing more to do
            meter.flush()


atexit.register(_flush_at_exit)


def count_error(key_id: Any, hour: int) -> None:
    _incr(key_id, hour, "e")


def _incr(key_id: Any, hour: int, field: str) -> None:
    restore({(str(key_id), hour): {field: 1}})


_DRAIN = """
local out = {}
for i = 2, #KEYS do
  local values = redis.call('HGETALL', KEYS[i])
  redis.call('DEL', KEYS[i])
  redis.call('SREM', KEYS[1], ARGV[i - 1])
  out[#out + 1] = ARGV[i - 1]
  out[#out + 1] = values
end
return out
"""


def drain() -> Counts:
    """Read and reset every pending hour hash atomically (concurrent drains split the counts)."""
    _flush_quietly()
    client = get_redis()
    now_hour = current_hour()
    hours = {int(h) for h in client.smembers(HOURS) if str(h).isdigit()}
    hours.update({now_hour, now_hour - 3600})
    ordered = sorted(hours)
    raw = client.eval(_DRAIN, 1 + len(ordered), HOURS, *[hour_key(h) for h in ordered], *ordered)
    counts: Counts = defaultdict(dict)
    for hour, flat in zip(raw[::2], raw[1::2], strict=True):
        for field, value in zip(flat[::2], flat[1::2], strict=True):
            key_id, _, kind = str(field).rpartition(":")
            if kind in FIELDS and key_id:
                slot = counts[(key_id, int(hour))]
                slot[kind] = slot.get(kind, 0) + int(value)
    return dict(counts)


def _flush_quietly() -> None:
    """This process's unflushed counts first, so a drain or a reading here sees them."""
    with contextlib.suppress(Exception):  # they stay in memory for the next flush
        meter.flush()


def restore(counts: Counts) -> None:
    """Put drained counts back (the database write failed)."""
    if not counts:
        return
    pipe = get_redis().pipeline(transaction=False)
    _write_counts(pipe, counts)
    pipe.execute()


def pending(key_id: Any) -> dict[str, int]:
    """Counts of the key not yet rolled up, summed over hours (tests, admin)."""
    _flush_quietly()
    client = get_redis()
    totals = dict.fromkeys(FIELDS, 0)
    for hour in client.smembers(HOURS):
        for kind in FIELDS:
            totals[kind] += int(client.hget(hour_key(hour), f"{key_id}:{kind}") or 0)
    return totals
