"""A real uvicorn server and a real WebSocket client."""

import asyncio
import json

import pytest
import websockets
from django.test import Client

from tests.accounts.factories import UserFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _connect(url: str, cookie: str | None):
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    return await websockets.connect(
        url, additional_headers=headers, origin="http://127.0.0.1", open_timeout=5
    )


def test_unauthenticated_connect_is_refused(live_asgi, network):
    async def scenario():
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            ws = await _connect(f"{live_asgi.ws_url}/ws/", None)
            await ws.recv()

    asyncio.run(scenario())


def test_authenticated_ping_gets_pong(live_asgi, network):
    user = UserFactory(network=network)
    cookie = _session_cookie(user)

    async def scenario():
        ws = await _connect(f"{live_asgi.ws_url}/ws/", cookie)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello == {"type": "hello", "user_id": str(user.pk)}
        await ws.send(json.dumps({"type": "ping", "ts": 123}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong", "ts": 123}
        await ws.send("not json")
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == "invalid_json"
        await ws.close()

    asyncio.run(scenario())


def test_revoked_session_cookie_is_refused(live_asgi, network):
    from apps.accounts import services
    from apps.accounts.models import UserSession

    user = UserFactory(network=network)
    cookie = _session_cookie(user)
    services.revoke_sessions(user=user, sessions=list(UserSession.objects.filter(user=user)))

    async def scenario():
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            ws = await _connect(f"{live_asgi.ws_url}/ws/", cookie)
            await ws.recv()

    asyncio.run(scenario())


def test_healthz_over_live_server(live_asgi):
    import httpx

    response = httpx.get(f"{live_asgi.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
