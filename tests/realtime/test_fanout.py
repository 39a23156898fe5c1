"""apps.realtime.fanout on the real Redis channel layer: one subscription per group per process,
events handed to local sockets in order, a stalled socket holds up only itself."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from apps.realtime import fanout
from apps.realtime.services import _event


class FakeSocket:
    def __init__(self, *, stalled: bool = False) -> None:
        self.got: list[str] = []
        self.stalled = asyncio.Event() if stalled else None
        self.closed_with: int | None = None

    async def realtime_event(self, event: dict) -> None:
        if self.stalled is not None:
            await self.stalled.wait()
        self.got.append(event["text"])

    async def close(self, code: int | None = None) -> None:
        self.closed_with = code


async def _group_channels(layer, group: str) -> list[str]:
    """The channels the layer holds in ``group`` (channels_redis keeps a sorted set per group)."""
    members = await layer.connection(layer.consistent_hash(group)).zrange(layer._group_key(group), 0, -1)
    return [m.decode() for m in members]


async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
def layer():
    from channels.layers import channel_layers

    channel_layers.backends.clear()  # a fresh layer for this test's event loop
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_one_subscription_delivers_in_order_and_a_stalled_socket_holds_up_only_itself(layer, monkeypatch):
    monkeypatch.setattr(fanout, "OUTBOX_MAX", 5)

    async def scenario():
        hub = fanout.local_fanout(layer)
        fast, other, stalled = FakeSocket(), FakeSocket(), FakeSocket(stalled=True)
        for sock in (fast, other, stalled):
            await hub.add("conv.fanout-test", sock)
        await hub.add("conv.fanout-other", other)
        channel = hub.channel
        assert await _group_channels(layer, "conv.fanout-test") == [channel]  # one member: the process
        for i in range(8):
            await layer.group_send("conv.fanout-test", _event({"n": i}, None, "conv.fanout-test"))
        await layer.group_send("conv.fanout-other", _event({"n": "x"}, None, "conv.fanout-other"))
        await _until(lambda: len(fast.got) == 8 and len(other.got) == 9)
        assert fast.got == [f'{{"n": {i}}}' for i in range(8)]
        assert other.got[-1] == '{"n": "x"}'
        await _until(lambda: stalled.closed_with == fanout.CLOSE_TOO_SLOW)  # past its outbox
        # a socket that left stops at once; the last one out ends the subscription
        await hub.discard("conv.fanout-test", fast)
        await layer.group_send("conv.fanout-test", _event({"n": 99}, None, "conv.fanout-test"))
        await _until(lambda: len(other.got) == 10)
        assert len(fast.got) == 8
        for sock in (other, stalled):
            await hub.discard("conv.fanout-test", sock)
        await hub.discard("conv.fanout-other", other)
        assert hub.channel is None and hub.members == {} and hub.outboxes == {}
        assert await _group_channels(layer, "conv.fanout-test") == []

    asyncio.run(scenario())
