"""Django's ASGI handler with the middleware chain and the view in one thread hop.

Django's own ``ASGIHandler`` builds an async middleware chain: every
``MiddlewareMixin`` middleware (security, sessions, locale, common, CSRF,
messages, clickjacking…) then runs its ``process_request`` and
``process_response`` through ``sync_to_async``, a sync-only one in between
switches back with ``async_to_sync``, and the sync view is one more hop —
about nine thread switches per request. Our views are sync, so here the
chain is built in sync mode (as under WSGI) and the whole of it — every
middleware and the view — runs in ONE ``sync_to_async`` call, in the
request's thread-sensitive executor (so the database connection stays on one
thread). What remains of Django's plumbing is the ``request_started`` signal
and ``response.close()``: three hops per request in all.

The ASGI lifespan protocol (``uvicorn --lifespan on``) is answered too: on
shutdown the process's Redis pools are closed (``apps.core.redis``).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SingleHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()  # BaseHandler: no async chain
        self.load_middleware(is_async=False)
        self._get_response_sync = sync_to_async(self.get_response, thread_sensitive=True)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await self._get_response_sync(request)


async def lifespan(scope: dict, receive: Any, send: Any) -> None:
    """Startup: nothing to do; shutdown: close the Redis connections of this process."""
    from . import redis

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await sync_to_async(redis.close_all, thread_sensitive=False)()
            await redis.aclose_loop_clients()
            await send({"type": "lifespan.shutdown.complete"})
            return


_frozen = False


def warm_up_and_freeze() -> None:
    """Import what the first request would (URLconf, views, serializers), then ``gc.freeze()``.

    Once per process: the objects alive after start-up (modules, classes,
    functions, settings) move to the permanent generation, so the cyclic
    collector no longer walks them on every full collection.
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 — imports every urls module and view
    gc.collect()
    gc.freeze()
