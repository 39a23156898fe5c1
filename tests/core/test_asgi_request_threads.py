"""``SingleHopASGIHandler`` runs requests on a bounded set of reused threads (issue 8): no thread
start per request, never more request threads than ``ASGI_REQUEST_THREADS``, and a thread whose
view outlived its client's disconnect is retired instead of serving the next request."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.core.signals import request_started

from apps.core.handlers import SingleHopASGIHandler, _RequestThread

pytestmark = pytest.mark.django_db


def _scope(path: str = "/healthz") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5555), "server": ("testserver", 80),
    }  # fmt: skip


async def _request(app, *, disconnect_after: float | None = None) -> list[dict]:
    sent: list[dict] = []
    first = True
    hang = asyncio.Event()

    async def receive() -> dict:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        if disconnect_after is not None:
            await asyncio.sleep(disconnect_after)
            return {"type": "http.disconnect"}
        await hang.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(_scope(), receive, send)
    return sent


@pytest.fixture
def seen_threads():
    names: list[str] = []

    def record(**kwargs) -> None:
        names.append(threading.current_thread().name)

    request_started.connect(record)
    yield names
    request_started.disconnect(record)


def test_requests_reuse_a_bounded_set_of_threads(settings, seen_threads):
    settings.ASGI_REQUEST_THREADS = 3
    app = SingleHopASGIHandler()
    in_flight = peak = 0

    async def one() -> None:
        nonlocal in_flight, peak
        in_flight += 1
        try:
            sent = await _request(app)
        finally:
            in_flight -= 1
        assert sent[0]["status"] == 200

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(40)))

    before = threading.active_count()
    asyncio.run(main())
    assert len(seen_threads) == 40
    assert len(set(seen_threads)) <= 3, set(seen_threads)  # 40 requests, at most 3 threads
    assert threading.active_count() - before <= 3
    assert app._threads <= 3


def test_a_disconnect_mid_request_loses_no_thread(settings, seen_threads):
    settings.ASGI_REQUEST_THREADS = 1
    app = SingleHopASGIHandler()

    async def main() -> list[dict]:
        await asyncio.gather(
            *(_request(app, disconnect_after=0) for _ in range(5))
        )  # clients that leave at once
        return await _request(app)

    assert asyncio.run(main())[0]["status"] == 200
    assert app._threads == 1 and len(app._idle) == 1


def test_a_thread_with_work_still_on_it_is_retired_not_handed_out():
    app = SingleHopASGIHandler()
    busy = _RequestThread()
    gate = threading.Event()
    busy.submit(gate.wait, 5)  # a view that outlived its client
    app._release(busy)
    try:
        assert busy not in app._idle and len(app._idle) == 1  # a fresh thread took its place
        assert app._idle[0].idle
    finally:
        gate.set()
        busy.shutdown(wait=True)


def test_a_slow_client_holds_no_thread_while_its_response_is_sent(settings):
    """With one request thread, a client that does not read its response (the send blocks) does
    not stop the next request; the first request's ``request_finished`` (its database connection
    back to the pool) ran before its body went out."""
    from django.core.signals import request_finished

    settings.ASGI_REQUEST_THREADS = 1
    app = SingleHopASGIHandler()
    events: list[str] = []

    def finished(**kwargs) -> None:
        events.append("finished")

    request_finished.connect(finished)

    async def main() -> None:
        reading = asyncio.Event()
        hang = asyncio.Event()
        first = True

        async def receive() -> dict:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b"", "more_body": False}
            await hang.wait()
            return {"type": "http.disconnect"}

        async def slow_send(message: dict) -> None:
            if message["type"] == "http.response.body":
                events.append("body")
                await reading.wait()  # the client is not reading

        slow = asyncio.create_task(app(_scope(), receive, slow_send))
        for _ in range(200):  # until the slow response is being sent
            if "body" in events:
                break
            await asyncio.sleep(0.01)
        assert events[:2] == ["finished", "body"], events
        sent = await asyncio.wait_for(_request(app), timeout=5)  # served on the one thread meanwhile
        assert sent[0]["status"] == 200
        reading.set()
        await asyncio.wait_for(slow, timeout=5)

    try:
        asyncio.run(main())
    finally:
        request_finished.disconnect(finished)
    assert events.count("finished") == 2  # once per request: the close after sending is a no-op
