"""One login flow and one 2FA wall on every surface (issue 7 §2–4, §8).

* the admin signs in through allauth (2FA stage, suspension, throttle, history);
* a session that has not passed its second factor is refused by the admin,
  the API and allauth's headless endpoints (the WebSocket: tests/realtime);
* no 2FA secret on the device admin pages;
* signing up with a taken address costs the same password hash as a new one.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.utils import timezone

from apps.accounts.selectors import MFA_SESSION_KEY
from apps.preferences.models import LoginHistory
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import enable_totp, totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(network):
    return UserFactory(network=network, is_staff=True, is_superuser=True)


def _half_authenticated(user) -> Client:
    """A session signed in without its second factor (what /admin/login/ used to hand out)."""
    client = Client()
    client.force_login(user)
    session = client.session
    assert MFA_SESSION_KEY not in session
    return client


# --- the admin's login is allauth's -----------------------------------------------------


def test_admin_login_sends_to_the_allauth_login_page(client):
    response = client.get("/admin/login/?next=/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Faccounts%2Fuser%2F"
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_admin_password_form_no_longer_signs_anyone_in(client, staff):
    response = client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/admin/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_2fa_staff_member_with_the_password_only_stops_at_the_2fa_stage(client, staff):
    device, _ = enable_totp(staff)
    response = client.post("/accounts/login/?next=/admin/", {"login": staff.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/authenticate/")
    assert client.get("/admin/").status_code == 302  # not signed in yet
    assert client.get("/_allauth/browser/v1/auth/session").status_code == 401
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(device)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert LoginHistory.objects.filter(user=staff, event="login").exists()


def test_a_suspended_staff_member_cannot_sign_in_to_the_admin(client, staff):
    type(staff).objects.filter(pk=staff.pk).update(
        suspended_until=timezone.now() + timezone.timedelta(days=1)
    )
    client.post("/accounts/login/?next=/admin/", {"login": staff.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert LoginHistory.objects.filter(user=staff, event="login_failed", failure_reason="suspended").exists()
    # a session that was already open is refused too
    signed_in = Client()
    signed_in.force_login(staff)
    assert signed_in.get("/admin/").status_code in (302, 403)
    assert signed_in.get("/admin/login/").status_code == 403


def test_admin_password_guessing_is_throttled(client, staff):
    for _ in range(25):
        client.post("/admin/login/", {"username": staff.email, "password": "wrong-password"})
        client.post("/accounts/login/", {"login": staff.email, "password": "wrong-password"})
    # the right password now fails too: allauth's login_failed limit (5 per 5 min per address)
    response = client.post("/accounts/login/", {"login": staff.email, "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    # and the admin's own form is no side door around it
    client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    assert LoginHistory.objects.filter(user=staff, event="locked_out").exists()


# --- a half-authenticated session is refused everywhere -----------------------------------


def test_a_half_authenticated_session_is_refused_by_the_admin(staff):
    device, _ = enable_totp(staff)
    client = _half_authenticated(staff)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/" not in response["Location"].split("?")[0][:7]
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/verify/")
    assert client.get("/admin/accounts/user/").status_code == 302


def test_a_half_authenticated_session_reads_as_signed_out_on_allauth_headless(user):
    enable_totp(user)
    client = _half_authenticated(user)
    response = client.get("/_allauth/browser/v1/auth/session")
    assert response.status_code == 401 and response.json()["meta"]["is_authenticated"] is False
    response = client.post(
        "/_allauth/browser/v1/account/email", {"email": "second@example.com"}, content_type="application/json"
    )
    assert response.status_code in (401, 409)  # as for a visitor: no signed-in user, no pending signup
    assert not EmailAddress.objects.filter(email="second@example.com").exists()
    # the same session through the app client's X-Session-Token
    token = client.session.session_key
    app = Client(HTTP_X_SESSION_TOKEN=token)
    assert app.get("/_allauth/app/v1/auth/session").status_code == 401
    response = app.post(
        "/_allauth/app/v1/account/email", {"email": "third@example.com"}, content_type="application/json"
    )
    assert response.status_code in (401, 409)
    assert not EmailAddress.objects.filter(email="third@example.com").exists()
    # and the API (the base chain) refuses it as before
    assert client.get("/api/v1/me/").status_code == 401


def test_a_fully_authenticated_session_keeps_working_on_allauth_headless(user):
    device, _ = enable_totp(user)
    client = _half_authenticated(user)
    session = client.session
    session[MFA_SESSION_KEY] = device.pk
    session.save()
    assert client.get("/_allauth/browser/v1/auth/session").status_code == 200
    token = client.session.session_key
    assert Client(HTTP_X_SESSION_TOKEN=token).get("/_allauth/app/v1/auth/session").status_code == 200


def test_a_half_authenticated_app_session_can_still_sign_out(user):
    enable_totp(user)
    client = _half_authenticated(user)
    token = client.session.session_key
    response = Client(HTTP_X_SESSION_TOKEN=token).delete("/_allauth/app/v1/auth/session")
    assert response.status_code == 401  # allauth: signed out
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=token).exists()


# --- no 2FA secret on the device admin ----------------------------------------------------


def test_the_otp_device_admin_shows_no_seed_and_no_backup_code(staff, user):
    from django_otp.plugins.otp_static.models import StaticDevice

    device, codes = enable_totp(user)
    client = Client()
    client.force_login(staff)
    pages = [
        "/admin/otp_totp/totpdevice/",
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        "/admin/otp_static/staticdevice/",
        f"/admin/otp_static/staticdevice/{StaticDevice.objects.get(user=user).pk}/change/",
    ]
    secrets = [device.key, device.bin_key.hex(), *[c.replace("-", "") for c in codes], *codes]
    from base64 import b32encode

    secrets.append(b32encode(device.bin_key).decode())
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert not [s for s in secrets if s in text], url
    for url in (
        f"/admin/otp_totp/totpdevice/{device.pk}/config/",
        f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/",
    ):
        response = client.get(url, follow=True)  # django-otp's config/QR views are gone
        text = response.content.decode()
        assert "otpauth://" not in text and not [s for s in secrets if s in text], url


# --- signup costs the same for a taken address -------------------------------------------


class CountingHasher(MD5PasswordHasher):
    """The test hasher, counting how often a password is hashed."""

    algorithm = "counting_md5"
    calls = 0

    def encode(self, password, salt):
        type(self).calls += 1
        return super().encode(password, salt)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.accounts.test_login_walls.CountingHasher"]
    CountingHasher.calls = 0
    return CountingHasher


@pytest.mark.parametrize("client_kind", ["browser", "app"])
def test_signup_with_a_taken_email_hashes_the_password_like_a_new_signup(
    network, counting_hasher, client_kind, django_capture_on_commit_callbacks
):
    UserFactory(network=network, email="taken@example.com")
    url = f"/_allauth/{client_kind}/v1/auth/signup"
    costs = {}
    for email in ("new@example.com", "taken@example.com"):
        counting_hasher.calls = 0
        with django_capture_on_commit_callbacks(execute=True):
            response = Client().post(
                url, {"email": email, "password": "a-long-passphrase-42"}, content_type="application/json"
            )
        assert response.status_code in (200, 401), response.content
        costs[email] = counting_hasher.calls
    assert costs["new@example.com"] >= 1
    assert costs["taken@example.com"] == costs["new@example.com"], costs
