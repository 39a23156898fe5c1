"""The browser flow end to end with Django's test client (allauth pages + our 2FA pages)."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User, UserSession
from apps.preferences.models import LoginHistory
from tests.accounts.helpers import last_mail_key, totp_code

pytestmark = pytest.mark.django_db

EMAIL = "Ada@Example.com"
PASSWORD = "a-long-and-unusual-passphrase"


def _login(client: Client, email: str = EMAIL, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def _second_factor(client: Client, code: str):
    return client.post("/accounts/2fa/authenticate/", {"code": code})


def test_signup_verify_login_enrol_totp_and_sign_in_with_totp_and_backup_codes(network):
    client = Client()

    # signup → verification mail, no session yet
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert b'name="invite_code"' in page.content
    response = client.post(
        "/accounts/signup/", {"email": EMAIL, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get(email=EMAIL.lower())
    assert user.network_id == network.pk
    assert user.handle == "ada"
    assert len(mail.outbox) == 1
    assert not EmailAddress.objects.get(user=user).verified
    assert client.get("/accounts/profile/").status_code == 302  # not signed in

    # login before verification is refused (verification mail sent again)
    response = _login(client)
    assert response.status_code == 302 and "confirm-email" in response["Location"]
    assert "_auth_user_id" not in client.session

    # verify by the link in the mail
    key = last_mail_key()
    assert client.get(f"/accounts/confirm-email/{key}/").status_code == 200
    response = client.post(f"/accounts/confirm-email/{key}/")
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified

    # login
    response = _login(client)
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    assert client.get("/accounts/profile/").status_code == 200
    assert UserSession.objects.filter(user=user, kind="browser", revoked_at__isnull=True).count() == 1

    # enrol TOTP: start, scan the QR, confirm with a code
    status_page = client.get("/accounts/2fa/")
    assert status_page.status_code == 200 and b"Set up authenticator app" in status_page.content
    response = client.post("/accounts/2fa/totp/")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/totp/"
    page = client.get("/accounts/2fa/totp/")
    assert page.status_code == 200
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/accounts/2fa/totp/", {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/backup-codes/"
    device.refresh_from_db()
    assert device.confirmed

    # the ten backup codes are shown once
    page = client.get("/accounts/2fa/backup-codes/")
    codes = [c.decode() for c in re.findall(rb"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", page.content)]
    assert len(codes) == 10
    again = client.get("/accounts/2fa/backup-codes/")
    assert b"<code>" not in again.content and b"10</strong> unused backup codes" in again.content
    assert StaticToken.objects.filter(device__user=user).count() == 10

    # logout, then login asks for the second factor
    assert client.post("/accounts/logout/").status_code == 302
    response = _login(client)
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/accounts/profile/").status_code == 302  # not signed in until the code
    assert client.get("/api/v1/me/").status_code in (401, 403)
    response = _second_factor(client, totp_code(device))
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    assert client.get("/accounts/profile/").status_code == 200
    me = client.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["has_2fa"] is True

    # a backup code signs in once
    client.post("/accounts/logout/")
    _login(client)
    response = _second_factor(client, codes[0])
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    assert StaticToken.objects.filter(device__user=user).count() == 9

    client.post("/accounts/logout/")
    _login(client)
    reused = _second_factor(client, codes[0].upper())
    assert reused.status_code == 400
    assert b"That code is not valid." in reused.content
    assert client.get("/accounts/profile/").status_code == 302
    # django-otp backs off after a wrong code (1 s, 2 s, …): reported as 429 + Retry-After
    throttled = _second_factor(client, codes[1])
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    # (stands in for waiting out the back-off) another unused code still works
    StaticDevice.objects.filter(user=user).update(
        throttling_failure_timestamp=None, throttling_failure_count=0
    )
    response = _second_factor(client, codes[1].replace("-", ""))
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"

    events = list(LoginHistory.objects.filter(user=user).order_by("id").values_list("event", flat=True))
    assert events.count("login") == 4
    assert events.count("mfa_challenge") == 3
    assert events.count("logout") == 3
    assert events.count("mfa_failed") == 2
    assert "login_failed" in events  # the unverified attempt


def test_pages_render_for_anonymous_visitors(network):
    client = Client()
    for path in (
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"css/colony.css" in response.content
        assert b'class="card' in response.content


def test_manage_pages_render_for_members(user, password):
    client = Client()
    assert client.post("/accounts/login/", {"login": user.email, "password": password}).status_code == 302
    for path in ("/accounts/profile/", "/accounts/email/", "/accounts/password/change/", "/accounts/2fa/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"side-nav" in response.content
