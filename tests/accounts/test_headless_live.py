"""allauth headless over real HTTP (uvicorn + httpx): the app flow with the 2FA stage, tokens, sockets."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User, UserSession
from apps.preferences.models import LoginHistory
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import enable_totp, last_mail_key, totp_code

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

APP = "/_allauth/app/v1"
BROWSER = "/_allauth/browser/v1"
NEW_PASSWORD = "another-long-unusual-passphrase"


def _pending_flows(body: dict) -> list[str]:
    return [f["id"] for f in body.get("data", {}).get("flows", []) if f.get("is_pending")]


def test_app_signup_verify_login_with_totp_stage_and_token_reaches_api(live_asgi, network):
    with httpx.Client(base_url=live_asgi.url, timeout=10) as http:
        # signup: 401 with verify_email pending (mandatory verification), no user session
        response = http.post(
            f"{APP}/auth/signup", json={"email": "app@example.com", "password": NEW_PASSWORD}
        )
        assert response.status_code == 401, response.text
        assert "verify_email" in _pending_flows(response.json())
        user = User.objects.get(email="app@example.com")
        assert user.network_id == network.pk

        # verify by the key from the mail
        key = last_mail_key()
        response = http.post(f"{APP}/auth/email/verify", json={"key": key})
        assert response.status_code in (200, 401), response.text
        assert user.emailaddress_set.get().verified

        # login (no 2FA yet) → token works
        response = http.post(f"{APP}/auth/login", json={"email": "app@example.com", "password": NEW_PASSWORD})
        assert response.status_code == 200, response.text
        token = response.json()["meta"]["session_token"]
        auth = {"X-Session-Token": token}
        me = http.get("/api/v1/me/", headers=auth)
        assert me.status_code == 200 and me.json()["email"] == "app@example.com"
        row = UserSession.objects.get(session_key=token)
        assert row.kind == "app" and row.user_id == user.pk

        # enrol TOTP through the API (the fresh login counts as recent authentication)
        response = http.post("/api/v1/account/2fa/totp/", headers=auth)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["otpauth_uri"].startswith("otpauth://totp/Colony%3Aapp%40example.com?secret=")
        assert body["otpauth_uri"].endswith("&issuer=Colony")
        assert body["qr_svg"].startswith("<svg")
        device = TOTPDevice.objects.get(user=user, confirmed=False)
        response = http.post(
            "/api/v1/account/2fa/totp/confirm/", headers=auth, json={"code": totp_code(device)}
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["backup_codes"]) == 10
        # the enrolling session passed the second factor
        assert http.get("/api/v1/me/", headers=auth).status_code == 200

        # a new login stops at the OTP stage: 401 + pending mfa_otp_authenticate
        response = http.post(f"{APP}/auth/login", json={"email": "app@example.com", "password": NEW_PASSWORD})
        assert response.status_code == 401, response.text
        assert _pending_flows(response.json()) == ["mfa_otp_authenticate"]
        pending = response.json()["meta"]["session_token"]
        assert http.get("/api/v1/me/", headers={"X-Session-Token": pending}).status_code == 401

        # wrong code → 400 with the field error, still pending
        response = http.post(
            f"{APP}/auth/2fa/authenticate", headers={"X-Session-Token": pending}, json={"code": "000000"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["param"] == "code"
        TOTPDevice.objects.filter(user=user).update(
            throttling_failure_timestamp=None, throttling_failure_count=0
        )

        # the right code completes the login and yields a working token
        response = http.post(
            f"{APP}/auth/2fa/authenticate",
            headers={"X-Session-Token": pending},
            json={"code": totp_code(TOTPDevice.objects.get(user=user))},
        )
        assert response.status_code == 200, response.text
        assert response.json()["meta"]["is_authenticated"] is True
        token2 = response.json()["meta"].get("session_token") or pending
        me = http.get("/api/v1/me/", headers={"X-Session-Token": token2})
        assert me.status_code == 200 and me.json()["has_2fa"] is True
        row2 = UserSession.objects.get(session_key=token2)
        assert row2.kind == "app" and row2.otp_verified_at is not None

    events = list(LoginHistory.objects.filter(user=user).order_by("id").values_list("event", flat=True))
    assert events == ["login", "mfa_challenge", "mfa_failed", "login"]


def test_browser_client_login_goes_through_the_same_stage(live_asgi, network):
    user = UserFactory(network=network)
    device, _ = enable_totp(user)
    with httpx.Client(base_url=live_asgi.url, timeout=10) as http:
        http.get(f"{BROWSER}/config")
        csrf = {"X-CSRFToken": http.cookies["csrftoken"]}
        response = http.post(
            f"{BROWSER}/auth/login", headers=csrf, json={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 401
        assert _pending_flows(response.json()) == ["mfa_otp_authenticate"]
        assert http.get("/api/v1/me/").status_code in (401, 403)
        response = http.post(
            f"{BROWSER}/auth/2fa/authenticate", headers=csrf, json={"code": totp_code(device)}
        )
        assert response.status_code == 200, response.text
        assert http.get("/api/v1/me/").status_code == 200
    assert UserSession.objects.get(user=user, revoked_at__isnull=True).kind == "browser"


def test_revoked_token_is_401(live_asgi, network):
    user = UserFactory(network=network)
    with httpx.Client(base_url=live_asgi.url, timeout=10) as http:
        tokens = []
        for _ in range(2):
            response = http.post(f"{APP}/auth/login", json={"email": user.email, "password": PASSWORD})
            tokens.append(response.json()["meta"]["session_token"])
        first, second = ({"X-Session-Token": t} for t in tokens)
        sessions = http.get("/api/v1/account/sessions/", headers=first).json()["results"]
        assert len(sessions) == 2
        other = next(s for s in sessions if not s["is_current"])
        assert http.delete(f"/api/v1/account/sessions/{other['id']}/", headers=first).status_code == 204
        response = http.get("/api/v1/me/", headers=second)
        assert response.status_code == 401
        assert http.get("/api/v1/me/", headers=first).status_code == 200


def test_revoking_a_session_closes_its_websocket_with_4001(live_asgi, network):
    user = UserFactory(network=network)
    with (
        httpx.Client(base_url=live_asgi.url, timeout=10) as a,
        httpx.Client(base_url=live_asgi.url, timeout=10) as b,
    ):
        # session A: app token; session B: a browser cookie session with an open socket
        token = a.post(f"{APP}/auth/login", json={"email": user.email, "password": PASSWORD}).json()["meta"][
            "session_token"
        ]
        b.get(f"{BROWSER}/config")
        response = b.post(
            f"{BROWSER}/auth/login",
            headers={"X-CSRFToken": b.cookies["csrftoken"]},
            json={"email": user.email, "password": PASSWORD},
        )
        assert response.status_code == 200
        cookie = b.cookies["sessionid"]

    async def scenario():
        ws = await websockets.connect(
            f"{live_asgi.ws_url}/ws/",
            additional_headers={"Cookie": f"sessionid={cookie}"},
            origin="http://127.0.0.1",
            open_timeout=5,
        )
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello"
        async with httpx.AsyncClient(base_url=live_asgi.url, timeout=10) as http:
            response = await http.post(
                "/api/v1/account/sessions/revoke-others/", headers={"X-Session-Token": token}
            )
            assert response.status_code == 200 and response.json() == {"revoked": 1}
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert event == {"type": "session.revoked"}
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 4001

    asyncio.run(scenario())
    assert UserSession.objects.get(session_key=cookie).revoked_at is not None
