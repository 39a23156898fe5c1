"""Who has a socket open: one sorted set per user in Redis (channel name → last seen).

A socket is counted while it was seen in the last ``PRESENCE_TTL`` seconds;
clients ping every 30 s (the web page does), and every frame refreshes it.
A crashed server's sockets fade out after the TTL instead of counting forever.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from apps.core.redis import Ahead, get_redis, key

PRESENCE_TTL = 90


def _key(user_id: Any) -> str:
    return key("presence", user_id)


def mark_connected(user_id: Any, channel_name: str) -> None:
    now = time.time()
    name = _key(user_id)
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(name, {channel_name: now})
    pipe.zremrangebyscore(name, "-inf", now - PRESENCE_TTL)
    pipe.expire(name, PRESENCE_TTL)
    pipe.execute()


def mark_disconnected(user_id: Any, channel_name: str) -> None:
    get_redis().zrem(_key(user_id), channel_name)


def connected_user_ids(user_ids: Iterable[Any]) -> set[str]:
    """The subset of ``user_ids`` (as strings) with a live socket: one pipelined round trip."""
    return ConnectedAhead(user_ids).result()


class ConnectedAhead:
    """``connected_user_ids`` asked now and answered by ``result()``: the read overlaps the caller's
    next statement (``apps.core.redis.Ahead``); ``close()`` if the caller fails before reading."""

    __slots__ = ("_ahead", "_ids")

    def __init__(self, user_ids: Iterable[Any]) -> None:
        self._ids = [str(uid) for uid in user_ids]
        floor = time.time() - PRESENCE_TTL
        self._ahead = Ahead([("ZCOUNT", _key(uid), floor, "+inf") for uid in self._ids])

    def result(self) -> set[str]:
        counts = self._ahead.result()
        return {uid for uid, count in zip(self._ids, counts, strict=True) if int(count)}

    def close(self) -> None:
        self._ahead.close()
