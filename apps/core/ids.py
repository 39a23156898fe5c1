"""Time-ordered UUIDv7 primary keys (RFC 9562), made in Python.

48 bits of Unix milliseconds, then a 12-bit counter seeded randomly each
millisecond (monotonic within a process), then 62 random bits. Ordering by id
is ordering by creation time, which cursor pagination relies on.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter overflow: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= _counter << 64
    value |= 0b10 << 62
    value |= rand
    return uuid.UUID(int=value)


def uuid7_time_ms(value: uuid.UUID) -> int:
    return value.int >> 80


def uuid7_floor(moment) -> uuid.UUID:
    """The smallest UUIDv7 of ``moment``'s millisecond: ``pk < uuid7_floor(t)`` means "created before t"."""
    ms = int(moment.timestamp() * 1000)
    return uuid.UUID(int=((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (0b10 << 62))
