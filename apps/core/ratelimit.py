"""Fixed-window rate limits on Redis: one round trip (INCR + EXPIRE in a pipeline)."""

from __future__ import annotations

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
