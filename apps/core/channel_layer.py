"""The project's channel layer: channels_redis' ``RedisChannelLayer`` that honours a cancelled receive.

On Python 3.11 ``asyncio.wait_for`` swallows a cancellation that lands while
its inner awaitable has just finished (it returns the result instead;
fixed in 3.12). redis-py wraps every command write in ``wait_for`` when the
connection has a ``socket_timeout`` (ours does, see
``CHANNEL_LAYER_SOCKET_TIMEOUT``), so a consumer's channel ``receive()``
cancelled at that moment — a socket refused at connect cancels it within a
few loop steps of its first command — carries on: channels_redis'
``receive_single`` loops on ``BZPOPMIN`` for ever, the task never ends, the
server never finishes shutting down, and the layer's receive count stays
raised, so the next event loop to receive in the process is refused ("Two
event loops are trying to receive() on one channel layer at once!").

The fix, in two layers: the layer's connections write under
``asyncio.timeout`` (same write timeout, cancellation-correct on 3.11)
instead of ``wait_for``; and after each pop a task whose cancellation was
requested (``Task.cancelling()``) raises ``CancelledError`` anyway. A
message popped at that point is already in the channel's backup queue
(channels_redis moves it there before returning), and the next receive puts
it back: nothing is lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from redis.asyncio.connection import Connection
from redis.exceptions import TimeoutError as RedisTimeoutError

# channels_redis' own: the backup queue's messages go back to the front of the channel
_CLEANUP_SCRIPT = """
    local backed_up = redis.call('ZRANGE', ARGV[2], 0, -1, 'WITHSCORES')
    for i = #backed_up, 1, -2 do
        redis.call('ZADD', ARGV[1], backed_up[i], backed_up[i - 1])
    end
    redis.call('DEL', ARGV[2])
"""


class _CancelSafeWrites:
    """``send_packed_command`` bounded by ``asyncio.timeout`` rather than redis-py's ``wait_for``."""

    socket_timeout: float | None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        timeout = self.socket_timeout
        if not timeout:
            return await super().send_packed_command(command, check_health)  # type: ignore[misc]
        self.socket_timeout = None  # redis-py then writes without wait_for; one command at a time
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except TimeoutError:
            await self.disconnect(nowait=True)  # type: ignore[attr-defined]
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout


class CancelSafeConnection(_CancelSafeWrites, Connection):
    pass


def _raise_if_cancelled() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class RedisChannelLayer(_RedisChannelLayer):
    def __init__(self, hosts: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        for host in self.hosts:
            address = host.get("address")
            # redis:// only: for rediss:// redis-py's from_url sets its SSLConnection over any
            # connection_class (the cancellation checks below still end such a receive)
            if isinstance(address, str) and address.startswith("redis://"):
                host.setdefault("connection_class", CancelSafeConnection)

    async def _brpop_with_clean(self, index, channel, timeout):
        # channels_redis 4.3's body, with the cancellation checks between its steps
        backup_queue = self._backup_channel_name(channel)
        connection = self.connection(index)
        await connection.eval(_CLEANUP_SCRIPT, 0, channel, backup_queue)
        _raise_if_cancelled()  # before blocking up to ``timeout`` on a pop nobody waits for
        result = await connection.bzpopmin(channel, timeout=timeout)
        if result is None:
            _raise_if_cancelled()
            return None
        _, member, timestamp = result
        await connection.zadd(backup_queue, {member: float(timestamp)})
        _raise_if_cancelled()  # the message stays in the backup queue: the next receive restores it
        return member
