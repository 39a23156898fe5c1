"""One channel-layer subscription per server process for each shared group (chat's ``conv.<id>``).

A group send through the Redis layer is one message per member channel, popped one by
one by the process's receive loop: a message to 100 sockets on one server costs 100
pops. Sockets join the groups their providers name (``apps.realtime.dispatch``)
through ``LocalFanout`` instead: the first local socket of a group adds the process's
one fan-out channel to it, the last one to leave discards it, and each message that
arrives is handed to the local sockets in memory, in order (``RealtimeConsumer.realtime_event``:
the organization policy still applies per socket). ``user.<id>`` and ``session.<key>``
stay per socket.

One ``LocalFanout`` per event loop (a uvicorn process has one; tests start servers on
fresh loops); its receive task runs while it has a group and stops with the last one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

logger = logging.getLogger(__name__)

_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalFanout] = weakref.WeakKeyDictionary()


def local_fanout(layer: Any) -> LocalFanout:
    loop = asyncio.get_running_loop()
    fanout = _BY_LOOP.get(loop)
    if fanout is None or fanout.layer is not layer:
        fanout = _BY_LOOP[loop] = LocalFanout(layer)
    return fanout


class LocalFanout:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.members: dict[str, dict[Any, None]] = {}  # group → local sockets (insertion-ordered)
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def add(self, group: str, socket: Any) -> None:
        async with self.lock:
            if self.channel is None:
                # the consumers' prefix: channels_redis pops one process queue per prefix under one
                # lock, so a queue of its own would wait on theirs (and theirs on it)
                self.channel = await self.layer.new_channel()
                self.task = asyncio.create_task(self._run(self.channel))
            local = self.members.setdefault(group, {})
            if not local:
                await self.layer.group_add(group, self.channel)
            local[socket] = None

    async def discard(self, group: str, socket: Any) -> None:
        async with self.lock:
            local = self.members.get(group)
            if local is None or socket not in local:
                return
            del local[socket]
            if local:
                return
            del self.members[group]
            await self.layer.group_discard(group, self.channel)
            if not self.members and self.task is not None:
                self.task.cancel()
                self.task = self.channel = None

    async def _run(self, channel: str) -> None:
        while True:
            event = await self.layer.receive(channel)
            for socket in list(self.members.get(event.get("group"), ())):
                try:
                    await socket.realtime_event(event)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one broken socket never stops the others' delivery
                    logger.exception("realtime: delivery to a local socket failed")
