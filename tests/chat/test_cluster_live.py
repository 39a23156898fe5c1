"""Tickets, and two uvicorn processes behind one Redis channel layer."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from django.conf import settings
from rest_framework.test import APIClient

from tests.accounts.factories import UserFactory
from tests.apikeys.factories import issue_key
from tests.live import ROOT, free_port, wait_for, worker_env

from .factories import group
from .sockets import Socket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _ticket(user=None, *, token: str | None = None) -> str:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        client.force_login(user)
    response = client.post("/api/v1/realtime/tickets/")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["expires_in"] == 60 and body["url"] == f"/ws/?ticket={body['ticket']}"
    return body["ticket"]


def test_a_ticket_opens_one_socket_once(live_asgi, network):
    user = UserFactory(network=network)
    ticket = _ticket(user)

    async def scenario():
        sock = await Socket.open(live_asgi.ws_url, query=f"?ticket={ticket}")
        await sock.roundtrip()
        await sock.close()
        for query in (f"?ticket={ticket}", "?ticket=forged", "?ticket="):
            with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
                await Socket.open(live_asgi.ws_url, query=query)

    asyncio.run(scenario())


def test_api_key_tickets_need_the_realtime_scope_and_a_live_key(live_asgi, network):
    from apps.apikeys import services as key_services

    user = UserFactory(network=network)
    scoped = issue_key(user, scopes=["realtime:connect", "chat:read"])
    unscoped = issue_key(user, scopes=["chat:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {unscoped.token}")
    assert client.post("/api/v1/realtime/tickets/").status_code == 403
    good = _ticket(token=scoped.token)
    revoked_first = _ticket(token=scoped.token)
    key_services.revoke_api_key(actor=user, api_key=scoped.api_key)

    async def scenario():
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            await Socket.open(live_asgi.ws_url, query=f"?ticket={revoked_first}")
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            await Socket.open(live_asgi.ws_url, query=f"?ticket={good}")

    asyncio.run(scenario())


def test_an_expired_ticket_is_refused(live_asgi, network):
    from apps.core.redis import get_redis
    from apps.realtime.tickets import _key

    user = UserFactory(network=network)
    ticket = _ticket(user)
    get_redis().pexpire(_key(ticket), 1)
    wait_for(lambda: not get_redis().exists(_key(ticket)), message="the ticket to expire")

    async def scenario():
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            await Socket.open(live_asgi.ws_url, query=f"?ticket={ticket}")

    asyncio.run(scenario())


@pytest.fixture
def second_uvicorn(live_asgi):
    """Another uvicorn *process* on the same PostgreSQL test database and Redis database."""
    port = free_port()
    log_path = Path(settings.MEDIA_ROOT).parent / f"uvicorn-{settings.REDIS_DB}-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    env = worker_env()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--ws",
            "websockets-sansio",
            "--log-level",
            "warning",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"uvicorn exited: {log_path.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, message="the second uvicorn")
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_a_message_sent_through_one_server_reaches_sockets_on_the_other(live_asgi, second_uvicorn, network):
    alice, bob = UserFactory(network=network), UserFactory(network=network)
    conversation = group(alice, bob)

    async def scenario():
        a = await Socket.open(live_asgi.ws_url, user=alice)  # server 1 (this process)
        b = await Socket.open(second_uvicorn, user=bob)  # server 2 (another process)
        client_id = str(uuid.uuid4())
        frame = {
            "type": "message.send",
            "conversation_id": str(conversation.pk),
            "body": "across",
            "client_id": client_id,
        }
        await a.send(frame)
        assert (await a.expect("message.ack"))["message"]["seq"] == 1
        created = await b.expect("message.created")
        assert created["message"]["client_id"] == client_id
        # alice's socket has its own "across" (the sender's sockets get message.created too)
        assert (await a.expect("message.created"))["message"]["body"] == "across"
        await b.send({**frame, "client_id": str(uuid.uuid4()), "body": "and back"})
        back = await a.expect("message.created")
        assert back["message"]["body"] == "and back" and back["message"]["seq"] == 2
        await a.close()
        await b.close()

    asyncio.run(scenario())
