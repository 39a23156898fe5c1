"""The channel layer's receive ends when it is cancelled, whenever the cancellation lands.

On Python 3.11 ``asyncio.wait_for`` (which redis-py wraps around every write
when the socket has a timeout) swallows a cancellation that lands as its
inner write finishes; channels_redis' receive then looped on BZPOPMIN for
ever. A WebSocket refused at connect cancels its consumer's receive within a
few loop steps, so live servers never finished shutting down and the next
one in the process failed with "Two event loops are trying to receive() on
one channel layer at once!" (see apps/core/channel_layer.py).
"""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer
from django.conf import settings

from apps.core.channel_layer import RedisChannelLayer


def _layer() -> RedisChannelLayer:
    return RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])


def test_the_project_layer_is_the_cancel_safe_one():
    assert isinstance(get_channel_layer(), RedisChannelLayer)


def test_a_receive_cancelled_at_any_step_ends_at_once_and_releases_the_layer():
    async def cancelled_after(steps: int) -> bool:
        layer = _layer()
        channel = await layer.new_channel()
        task = asyncio.ensure_future(layer.receive(channel))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), 2)
        except asyncio.CancelledError:
            pass
        except TimeoutError:
            task.cancel()
            return False
        finally:
            await layer.flush()
        return layer.receive_count == 0 and layer.receive_event_loop is None

    stuck = [steps for steps in range(40) if not asyncio.run(cancelled_after(steps))]
    assert stuck == []
