"""Rate limits on Redis: fixed windows (INCR + EXPIRE, one round trip) and token buckets (one Lua call)."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from .exceptions import RateLimited
from .redis import get_redis, key

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^(\d+)/(\d*)([smhd])$")


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text.strip())
        if not match:
            raise ValueError(f"bad rate {text!r}; use e.g. '5/5m' or '600/m'")
        count, mult, unit = match.groups()
        return cls(int(count), int(mult or 1) * _UNITS[unit])

    def window_start(self, now: int) -> int:
        return now - now % self.window

    def retry_after(self, now: int) -> int:
        """Seconds until the window that contains ``now`` resets (at least 1)."""
        return max(1, self.window_start(now) + self.window - now)


def hit(bucket: str, rate: Rate | str, *, cost: int = 1) -> tuple[bool, int]:
    """Count one hit; return (allowed, seconds until the window resets)."""
    if isinstance(rate, str):
        rate = Rate.parse(rate)
    now = int(time.time())
    name = key("rl", bucket, rate.window_start(now))
    pipe = get_redis().pipeline(transaction=False)
    pipe.incrby(name, cost)
    pipe.expire(name, rate.window + 1)
    count, _ = pipe.execute()
    return int(count) <= rate.limit, rate.retry_after(now)


def peek(bucket: str, rate: Rate | str) -> int:
    if isinstance(rate, str):
        rate = Rate.parse(rate)
    return int(get_redis().get(key("rl", bucket, rate.window_start(int(time.time())))) or 0)


def enforce(bucket: str, rate: Rate | str, *, message: str | None = None, cost: int = 1) -> None:
    allowed, retry_after = hit(bucket, rate, cost=cost)
    if not allowed:
        raise RateLimited(message, retry_after=retry_after)


def reset(bucket: str, rate: Rate | str) -> None:
    if isinstance(rate, str):
        rate = Rate.parse(rate)
    get_redis().delete(key("rl", bucket, rate.window_start(int(time.time()))))


# --- token bucket (bursts, then a steady rate) -------------------------------------------

# KEYS[1] bucket; ARGV: capacity, refill per second, cost. Redis' own clock, so every web
# process agrees. Returns {allowed (0/1), milliseconds until `cost` tokens are available}.
_TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = capacity; at = now end
tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return {allowed, wait}
"""


def take_token(bucket: str, *, capacity: int, per_second: float, cost: int = 1) -> tuple[bool, float]:
    """Token bucket: ``capacity`` at once, refilled at ``per_second``; one Lua round trip.

    Returns (allowed, seconds until enough tokens are back).
    """
    allowed, wait_ms = get_redis().eval(_TOKEN_BUCKET, 1, key("tb", bucket), capacity, per_second, cost)
    return bool(allowed), int(wait_ms) / 1000


def enforce_tokens(
    bucket: str, *, capacity: int, per_second: float, message: str | None = None, cost: int = 1
) -> None:
    allowed, wait = take_token(bucket, capacity=capacity, per_second=per_second, cost=cost)
    if not allowed:
        raise RateLimited(message, retry_after=math.ceil(wait))


# KEYS: buckets; ARGV[1] cost, then (capacity, refill per second) per bucket. All or nothing:
# the cost is taken from every bucket only when each has it (a shared limit and a narrower one
# — an account-wide rate and a campaign's — never waste each other's tokens).
_TOKEN_BUCKETS = """
local cost = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local levels = {}
local wait = 0
for i, name in ipairs(KEYS) do
  local capacity = tonumber(ARGV[i * 2])
  local rate = tonumber(ARGV[i * 2 + 1])
  local state = redis.call('HMGET', name, 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil then tokens = capacity; at = now end
  tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
  levels[i] = tokens
  if tokens < cost then
    wait = math.max(wait, math.ceil((cost - tokens) * 1000 / rate))
  end
end
for i, name in ipairs(KEYS) do
  local capacity = tonumber(ARGV[i * 2])
  local rate = tonumber(ARGV[i * 2 + 1])
  local tokens = levels[i]
  if wait == 0 then tokens = tokens - cost end
  redis.call('HSET', name, 'tokens', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', name, math.ceil(capacity * 1000 / rate) + 1000)
end
if wait == 0 then return {1, 0} end
return {0, wait}
"""


def take_tokens(buckets: list[tuple[str, int, float]], *, cost: int = 1) -> tuple[bool, float]:
    """Take ``cost`` from every ``(bucket, capacity, per_second)`` at once, or from none; one Lua call.

    Returns (allowed, seconds until all of them have ``cost`` again).
    """
    args: list[object] = [cost]
    for _name, capacity, per_second in buckets:
        args += [capacity, per_second]
    names = [key("tb", name) for name, _c, _r in buckets]
    allowed, wait_ms = get_redis().register_script(_TOKEN_BUCKETS)(keys=names, args=args)  # EVALSHA
    return bool(allowed), int(wait_ms) / 1000


def network_rate(network: object, name: str, default: str) -> Rate:
    """The rate named ``name`` in the network's ``settings.rate_limits``, else ``default``.

    Network admins set e.g. ``{"rate_limits": {"posts": "10/m"}}``; a value that
    does not parse falls back to the default rather than disabling the limit.
    """
    configured = None
    setting = getattr(network, "setting", None)
    if setting is not None:
        limits = setting("rate_limits") or {}
        configured = limits.get(name) if isinstance(limits, dict) else None
    if isinstance(configured, str):
        try:
            return Rate.parse(configured)
        except ValueError:
            pass
    return Rate.parse(default)


def enforce_network_rate(
    *, network: object, name: str, subject: object, default: str, message: str | None = None
) -> None:
    """Count one ``name`` action by ``subject`` against the network's rate (429 + Retry-After)."""
    enforce(
        f"{name}:{getattr(network, 'pk', network)}:{subject}",
        network_rate(network, name, default),
        message=message or f"Too many {name.replace('_', ' ')}; try again later.",
    )
