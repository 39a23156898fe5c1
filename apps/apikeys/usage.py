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

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.core.ratelimit import Rate
from apps.core.redis import get_redis, key

HOURS = key("{apikeys}", "usage", "hours")
USAGE_TTL_SECONDS = 7 * 86400  # a hash nobody drains (beat down for a week) expires
LAST_USED_INTERVAL = 60
FIELDS = {"r": "request_count", "e": "error_count", "t": "throttled_count"}


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


def count_error(key_id: Any, hour: int) -> None:
    _incr(key_id, hour, "e")


def _incr(key_id: Any, hour: int, field: str) -> None:
    name = hour_key(hour)
    pipe = get_redis().pipeline(transaction=False)
    pipe.hincrby(name, f"{key_id}:{field}", 1)
    pipe.expire(name, USAGE_TTL_SECONDS)
    pipe.sadd(HOURS, hour)
    pipe.execute()


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

#: (key id, hour epoch) → {"r": n, "e": n, "t": n}
Counts = dict[tuple[str, int], dict[str, int]]


def drain() -> Counts:
    """Read and reset every pending hour hash atomically (concurrent drains split the counts)."""
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


def restore(counts: Counts) -> None:
    """Put drained counts back (the database write failed)."""
    if not counts:
        return
    pipe = get_redis().pipeline(transaction=False)
    for (key_id, hour), values in counts.items():
        name = hour_key(hour)
        for kind, value in values.items():
            pipe.hincrby(name, f"{key_id}:{kind}", value)
        pipe.expire(name, USAGE_TTL_SECONDS)
        pipe.sadd(HOURS, hour)
    pipe.execute()


def pending(key_id: Any) -> dict[str, int]:
    """Counts of the key not yet rolled up, summed over hours (tests, admin)."""
    client = get_redis()
    totals = dict.fromkeys(FIELDS, 0)
    for hour in client.smembers(HOURS):
        for kind in FIELDS:
            totals[kind] += int(client.hget(hour_key(hour), f"{key_id}:{kind}") or 0)
    return totals
