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
and ``response.close()``: three hops per request in all, on a thread the
process reuses (``__call__``), not one started for each request.

The ASGI lifespan protocol (``uvicorn --lifespan on``) is answered too: on
shutdown the process's Redis pools are closed (``apps.core.redis``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class _RequestThread(ThreadPoolExecutor):
    """One request's thread (a single worker, first in first out) that knows whether it is idle:
    its last submitted call is done."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._last: Future | None = None

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        self._last = super().submit(fn, *args, **kwargs)
        return self._last

    @property
    def idle(self) -> bool:
        return self._last is None or self._last.done()


def _closed() -> None:
    """``close()`` of a response already closed before it was sent."""


class _Lease:
    """A request's hold on one request thread, given back once (after the view, or at the end)."""

    __slots__ = ("executor", "handler", "released")

    def __init__(self, handler: SingleHopASGIHandler, executor: _RequestThread) -> None:
        self.handler = handler
        self.executor = executor
        self.released = False

    def give_back(self) -> None:
        if not self.released:
            self.released = True
            self.handler._release(self.executor)


#: the lease of the request being handled (the response task inherits it)
_LEASE: ContextVar[_Lease | None] = ContextVar("request_thread_lease", default=None)


class SingleHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()  # BaseHandler: no async chain
        self.load_middleware(is_async=False)
        self._get_response_sync = sync_to_async(self._respond, thread_sensitive=True)
        self._idle: list[_RequestThread] = []
        self._threads = 0  # request threads alive (idle or serving)
        self._waiting: deque[asyncio.Future] = deque()
        self.max_threads = max(1, int(getattr(settings, "ASGI_REQUEST_THREADS", 8)))

    async def _acquire(self) -> _RequestThread:
        if self._idle:
            return self._idle.pop()
        if self._threads < self.max_threads:
            self._threads += 1
            return _RequestThread()
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a thread as it was cancelled
                self._release(waiter.result())
            raise

    def _release(self, executor: _RequestThread) -> None:
        if not executor.idle:
            # work still on it (a view that outlived its client's disconnect): retire it — dropped,
            # not shut down, so a straggler's last call still runs; its thread ends when collected
            executor = _RequestThread()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(executor)
                return
        self._idle.append(executor)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Django's entry point, on a bounded set of reused request threads.

        Django enters a fresh ``ThreadSensitiveContext()`` per request, so
        asgiref starts a new single-thread executor for every request — and
        one more thread to join it afterwards: two thread starts per request,
        and as many threads as requests in flight, all contending for the GIL
        (one process runs Python on one core at a time: more threads add
        switching, not throughput). Here a request takes one of at most
        ``ASGI_REQUEST_THREADS`` single-thread executors (one request at a
        time on each: the same isolation; requests beyond that wait their turn
        in the event loop), and gives it back as soon as the view is done and
        the response closed (``send_response``): sending the bytes needs no
        thread. An executor with work still running on it (a view that
        outlived its client's disconnect) is retired and replaced.
        """
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        lease = _Lease(self, await self._acquire())
        token = _LEASE.set(lease)
        try:
            async with ThreadSensitiveContext(executor=lease.executor):
                await self.handle(scope, receive, send)
        finally:
            _LEASE.reset(token)
            lease.give_back()

    def _respond(self, request: HttpRequest) -> HttpResponseBase:
        """The middleware chain and the view, then — for a complete (non-streaming) response — its
        ``close()`` in the same hop: ``request_finished`` on the request's own thread, so its
        database connection goes back to the pool before the bytes go out (Django closes a response
        after sending it; that later ``close()`` is a no-op here). A streaming response keeps its
        thread and connection until it is sent, as in Django."""
        response = self.get_response(request)
        if not response.streaming:
            response._handler_class = type(self)
            response.close()
            response.close = _closed  # type: ignore[method-assign]
        return response

    async def send_response(self, response: HttpResponseBase, send: Any) -> None:
        """The request's thread is given back before a complete response is sent: a slow client
        holds no thread (``_respond`` closed the response already)."""
        lease = _LEASE.get(None)
        if lease is not None and response.close is _closed:  # closed by ``_respond``
            lease.give_back()
        await super().send_response(response, send)

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
