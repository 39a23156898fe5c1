"""The socket obeys the same walls as the API (issue 7 §7), on a real uvicorn server.

Connect refuses a half-authenticated session, a person who has not enrolled the
2FA their network requires, a suspended account and a suspended network; signing out through allauth (browser and app) closes
that session's sockets like a revocation.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User
from apps.accounts.selectors import forget_security_state
from apps.networks.models import Network
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import enable_totp, totp_code

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


async def _open(url: str, cookie: str | None = None):
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    return await websockets.connect(
        url, additional_headers=headers, origin="http://127.0.0.1", open_timeout=5
    )


def _refused(url: str, cookie: str | None = None) -> bool:
    async def scenario() -> bool:
        try:
            ws = await _open(url, cookie)
            await asyncio.wait_for(ws.recv(), 5)
        except (websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed):
            return True
        await ws.close()
        return False

    return asyncio.run(scenario())


def _signed_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def test_connect_refuses_a_session_without_its_second_factor(live_asgi, network):
    user = UserFactory(network=network)
    enable_totp(user)
    client = Client()
    client.force_login(user)  # signed in, the second factor never passed
    assert _refused(f"{live_asgi.ws_url}/ws/", client.cookies["sessionid"].value)


def test_connect_refuses_a_person_who_has_not_enrolled_the_required_2fa(live_asgi, network):
    network.settings = {**network.settings, "require_2fa": True}
    network.save(update_fields=["settings"])
    user = UserFactory(network=network)
    forget_security_state(user.pk)
    client = _signed_in(user)
    cookie = client.cookies["sessionid"].value
    assert _refused(f"{live_asgi.ws_url}/ws/", cookie)  # the API's 403 mfa_enrolment_required
    # enrolling through the API (mfa_exempt) opens the socket as it opens the API
    assert client.post("/api/v1/account/2fa/totp/").status_code == 201
    device = TOTPDevice.objects.get(user=user)
    assert client.post("/api/v1/account/2fa/totp/confirm/", {"code": totp_code(device)}).status_code == 200
    assert not _refused(f"{live_asgi.ws_url}/ws/", client.cookies["sessionid"].value)


def test_a_refused_socket_never_reads_the_channel_layer(live_asgi, network):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()  # the process-wide layer the live server's consumers use
    assert _refused(f"{live_asgi.ws_url}/ws/")  # anonymous
    assert _refused(f"{live_asgi.ws_url}/ws/?ticket=unknown")
    # refused in the auth middleware: no consumer was built, so none waits on a Redis read
    assert layer.receive_count == 0


def test_connect_refuses_a_suspended_account_and_a_suspended_network(live_asgi, network):
    user = UserFactory(network=network)
    cookie = _signed_in(user).cookies["sessionid"].value
    assert not _refused(f"{live_asgi.ws_url}/ws/", cookie)
    User.objects.filter(pk=user.pk).update(suspended_until=timezone.now() + timezone.timedelta(days=1))
    assert _refused(f"{live_asgi.ws_url}/ws/", cookie)
    User.objects.filter(pk=user.pk).update(suspended_until=None)
    Network.objects.filter(pk=network.pk).update(status="suspended")
    assert _refused(f"{live_asgi.ws_url}/ws/", cookie)


def _closed_by(action, url: str, cookie: str | None = None) -> int:
    async def scenario() -> int:
        ws = await _open(url, cookie)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello"
        await asyncio.to_thread(action)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame == {"type": "session.revoked"}
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        return closed.value.rcvd.code

    return asyncio.run(scenario())


def test_browser_logout_closes_that_sessions_sockets(live_asgi, network):
    user = UserFactory(network=network)
    client = _signed_in(user)
    cookie = client.cookies["sessionid"].value

    def logout() -> None:
        assert client.post("/accounts/logout/").status_code == 302

    assert _closed_by(logout, f"{live_asgi.ws_url}/ws/", cookie) == 4001


def test_app_logout_closes_that_sessions_sockets(live_asgi, network):
    user = UserFactory(network=network)
    response = Client().post(
        "/_allauth/app/v1/auth/login",
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    token = response.json()["meta"]["session_token"]
    app = Client(HTTP_X_SESSION_TOKEN=token)
    ticket = app.post("/api/v1/realtime/tickets/").json()["ticket"]

    def logout() -> None:
        app.delete("/_allauth/app/v1/auth/session")

    assert _closed_by(logout, f"{live_asgi.ws_url}/ws/?ticket={ticket}") == 4001
