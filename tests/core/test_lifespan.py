"""The ASGI lifespan (the Procfile runs uvicorn with ``--lifespan on``): shutdown closes our Redis pools."""

from __future__ import annotations

import asyncio

import redis

from apps.core import redis as core_redis
from apps.core.handlers import lifespan


def _open_client_ids(url: str) -> set[int]:
    with redis.Redis.from_url(url) as probe:  # a connection of its own, outside our pools
        return {int(c["id"]) for c in probe.client_list()}


def _near_cache_port() -> int:
    from apps.core.nearcache import near
    from tests.live import wait_for

    wait_for(lambda: near.begin() is not None, message="near cache tracking")
    return near._tracker._conn._sock.getsockname()[1]


def test_lifespan_shutdown_disconnects_the_sync_and_async_pools(settings):
    sync_id = int(core_redis.get_redis().client_id())
    tracking_port = _near_cache_port()

    async def scenario() -> tuple[int, list[str]]:
        async_id = int(await core_redis.get_async_redis().client_id())
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[str] = []

        async def receive():
            return next(messages)

        async def send(message):
            sent.append(message["type"])

        await lifespan({"type": "lifespan"}, receive, send)
        return async_id, sent

    async_id, sent = asyncio.run(scenario())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    open_ids = _open_client_ids(settings.REDIS_URL)
    assert sync_id not in open_ids and async_id not in open_ids
    with redis.Redis.from_url(settings.REDIS_URL) as probe:  # the near cache's tracking connection too
        ports = {
            int(str(c["addr"]).rsplit(":", 1)[1])
            for c in probe.client_list()
            if c.get("name") == "colony-near-cache"
        }
    assert tracking_port not in ports
