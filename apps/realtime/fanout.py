"""One channel-layer subscription per server process for each shared group (chat's ``conv.<id>``).

A group send through the Redis layer is one message per member channel, popped one by
one by the process's receive loop: a message to 100 sockets on one server costs 100
pops. Sockets join the groups their providers name (``apps.realtime.dispatch``)
through ``LocalFanout`` instead: the first local socket of a group adds the process's
one fan-out channel to it, the last one to leave discards it, and each message that
arrives is handed to the local sockets in memory, in order (``RealtimeConsumer.realtime_event``:
the organization policy still applies per socket). ``user.<id>`` and ``session.<key>``
stay per socket.

Each local socket has its own outbox (a queue and a writer task), so a client that
stops reading holds up only itself: past ``OUTBOX_MAX`` undelivered events its socket
is closed (``CLOSE_TOO_SLOW``; the client reconnects and catches up by seq).

One ``LocalFanout`` per event loop (a uvicorn process has one; tests start servers on
fresh loops); its receive task runs while it has a group and stops with the last one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

logger = logging.getLogger(__name__)

#: undelivered events a socket may have queued before it is closed as too slow
OUTBOX_MAX = 1000
CLOSE_TOO_SLOW = 4008

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
        self.outboxes: dict[Any, _Outbox] = {}  # socket → its queue and writer
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
            # every join, not only the first: it refreshes the membership's expiry (the layer's
            # group_expiry), as each socket's own group_add did, while sockets come and go
            await self.layer.group_add(group, self.channel)
            if socket not in local:
                local[socket] = None
                outbox = self.outboxes.get(socket)
                if outbox is None:
                    outbox = self.outboxes[socket] = _Outbox(socket)
                outbox.groups += 1

    async def discard(self, group: str, socket: Any) -> None:
        async with self.lock:
            local = self.members.get(group)
            if local is None or socket not in local:
                return
            del local[socket]
            outbox = self.outboxes.get(socket)
            if outbox is not None:
                outbox.groups -= 1
                if outbox.groups <= 0:
                    del self.outboxes[socket]
                    outbox.stop()
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
            for socket in self.members.get(event.get("group"), ()):
                outbox = self.outboxes.get(socket)
                if outbox is not None:
                    outbox.put(event)


class _Outbox:
    """One local socket's undelivered events, written in order by its own task."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.groups = 0
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=OUTBOX_MAX)
        self.closing = False
        self.task = asyncio.create_task(self._write())

    def put(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            if not self.closing:  # a client this far behind reconnects and catches up by seq
                self.closing = True
                logger.warning("realtime: closing a socket %s events behind", OUTBOX_MAX)
                asyncio.create_task(self.socket.close(code=CLOSE_TOO_SLOW))

    def stop(self) -> None:
        self.task.cancel()

    async def _write(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self.socket.realtime_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken socket stops only its own delivery
                logger.exception("realtime: delivery to a local socket failed")
