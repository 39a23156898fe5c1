"""`/api/v1/account/2fa/…`: enrol, confirm, status, backup codes, disable, verify; rate limits and policies."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts import selectors
from apps.core.models import AuditEvent
from apps.preferences.models import LoginHistory
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import enable_totp, totp_code

pytestmark = pytest.mark.django_db


def _signed_in(user, password: str = PASSWORD) -> APIClient:
    """A real password login (so the session holds a fresh authentication record)."""
    client = APIClient()
    response = client.post(
        "/accounts/login/", {"login": user.email, "password": password}, format="multipart"
    )
    assert response.status_code == 302, response.content
    return client


def _app_token(user) -> str:
    response = Client().post(
        "/_allauth/app/v1/auth/login",
        json.dumps({"email": user.email, "password": PASSWORD}),
        content_type="application/json",
    )
    return response.json()["meta"]["session_token"]


def _reset_throttle(user) -> None:
    """Stands in for waiting out django-otp's per-device back-off (1 s after a wrong code)."""
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=None, throttling_failure_count=0)
    StaticDevice.objects.filter(user=user).update(
        throttling_failure_timestamp=None, throttling_failure_count=0
    )


def test_enrol_confirm_status_regenerate_and_disable(user):
    client = _signed_in(user)
    status = client.get("/api/v1/account/2fa/").json()
    assert status == {
        "enabled": False,
        "enabled_at": None,
        "last_used_at": None,
        "pending_enrolment": False,
        "backup_codes_remaining": 0,
        "required": False,
        "session_verified": True,
    }
    response = client.post("/api/v1/account/2fa/totp/")
    assert response.status_code == 201
    assert set(response.json()) == {"otpauth_uri", "secret", "qr_svg"}
    assert client.get("/api/v1/account/2fa/").json()["pending_enrolment"] is True
    device = TOTPDevice.objects.get(user=user)

    wrong = client.post("/api/v1/account/2fa/totp/confirm/", {"code": "000000"})
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": "That code is not valid.", "code": "invalid_code"}
    _reset_throttle(user)
    confirmed = client.post("/api/v1/account/2fa/totp/confirm/", {"code": totp_code(device)})
    assert confirmed.status_code == 200
    codes = confirmed.json()["backup_codes"]
    assert len(codes) == len(set(codes)) == 10
    status = client.get("/api/v1/account/2fa/").json()
    assert status["enabled"] and status["backup_codes_remaining"] == 10 and status["session_verified"]
    assert selectors.security_state(user)["has_2fa"] is True
    # enrolling again while enabled is a state conflict
    assert client.post("/api/v1/account/2fa/totp/").status_code == 409

    # regenerate with a backup code: old codes die, ten new ones shown once
    regenerated = client.post("/api/v1/account/2fa/backup-codes/", {"code": codes[0]})
    assert regenerated.status_code == 200
    fresh = regenerated.json()["backup_codes"]
    assert not set(fresh) & set(codes)
    assert StaticToken.objects.filter(device__user=user).count() == 10
    assert client.post("/api/v1/account/2fa/backup-codes/", {"code": codes[1]}).status_code == 400

    # disable needs a valid code; afterwards the devices are gone
    _reset_throttle(user)
    assert client.delete("/api/v1/account/2fa/totp/", {"code": "nope"}).status_code == 400
    assert client.delete("/api/v1/account/2fa/totp/", {}).status_code == 400
    _reset_throttle(user)
    assert client.delete("/api/v1/account/2fa/totp/", {"code": fresh[0]}).status_code == 204
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert selectors.security_state(user)["has_2fa"] is False
    assert client.delete("/api/v1/account/2fa/totp/", {"code": fresh[1]}).status_code == 409

    actions = list(
        AuditEvent.objects.filter(target_id=user.pk).values_list("action", flat=True).order_by("id")
    )
    assert actions == ["account.2fa.enabled", "account.2fa.backup_codes_regenerated", "account.2fa.disabled"]


def test_enrolment_needs_recent_authentication(user):
    client = APIClient()
    client.force_login(user)  # no authentication record in this session
    response = client.post("/api/v1/account/2fa/totp/")
    assert response.status_code == 401
    assert response.json()["code"] == "reauthentication_required"
    assert not TOTPDevice.objects.filter(user=user).exists()
    # allauth's reauthentication (password) makes it recent
    reauth = client.post("/_allauth/browser/v1/auth/reauthenticate", {"password": PASSWORD}, format="json")
    assert reauth.status_code == 200, reauth.content
    assert client.post("/api/v1/account/2fa/totp/").status_code == 201


def test_confirm_without_enrolment_is_409(user):
    client = _signed_in(user)
    response = client.post("/api/v1/account/2fa/totp/confirm/", {"code": "123456"})
    assert response.status_code == 409
    assert response.json()["code"] == "no_pending_enrolment"


def test_wrong_codes_are_rate_limited_with_retry_after_and_recorded(user):
    device, _ = enable_totp(user)
    token = _app_token(user)  # pending: the 2FA stage
    client = Client()
    url = "/_allauth/app/v1/auth/2fa/authenticate"
    for _ in range(5):
        _reset_throttle(user)
        bad = client.post(
            url, json.dumps({"code": "999999"}), content_type="application/json", HTTP_X_SESSION_TOKEN=token
        )
        assert bad.status_code == 400
    _reset_throttle(user)
    limited = client.post(
        url,
        json.dumps({"code": totp_code(device)}),
        content_type="application/json",
        HTTP_X_SESSION_TOKEN=token,
    )
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 300
    assert limited.json()["errors"][0]["code"] == "too_many_attempts"
    failures = LoginHistory.objects.filter(user=user, event="mfa_failed").order_by("id")
    assert [r.failure_reason for r in failures] == ["invalid_code (login)"] * 5 + ["rate_limited (login)"]

    # the API answers the same way for a signed-in user's 2FA changes
    api = APIClient()
    api.force_login(user)
    session = api.session
    session[selectors.MFA_SESSION_KEY] = device.pk
    session.save()
    response = api.post("/api/v1/account/2fa/backup-codes/", {"code": totp_code(device)})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["code"] == "too_many_attempts"


def test_django_otp_back_off_is_429_with_retry_after(user):
    device, _ = enable_totp(user)
    token = _app_token(user)
    url = "/_allauth/app/v1/auth/2fa/authenticate"
    client = Client()
    first = client.post(
        url, json.dumps({"code": "999999"}), content_type="application/json", HTTP_X_SESSION_TOKEN=token
    )
    assert first.status_code == 400
    second = client.post(
        url,
        json.dumps({"code": totp_code(device)}),
        content_type="application/json",
        HTTP_X_SESSION_TOKEN=token,
    )
    assert second.status_code == 429 and second["Retry-After"] == "1"


def test_session_signed_in_before_enrolment_elsewhere_must_verify(user):
    old = APIClient()
    old.force_login(user)
    assert old.get("/api/v1/me/").status_code == 200
    device, codes = enable_totp(user)  # enrolled in another session
    response = old.get("/api/v1/me/")
    assert response.status_code == 401 and response.json()["code"] == "mfa_required"
    assert old.get("/api/v1/account/sessions/").status_code == 401
    assert old.get("/api/v1/account/2fa/").json()["session_verified"] is False
    assert old.post("/api/v1/account/2fa/verify/", {"code": "000000"}).status_code == 400
    verified = old.post("/api/v1/account/2fa/verify/", {"code": codes[0]})
    assert verified.status_code == 200 and verified.json() == {"session_verified": True}
    assert old.get("/api/v1/me/").status_code == 200


def test_verify_without_2fa_is_409(user_client):
    response = user_client.post("/api/v1/account/2fa/verify/", {"code": "123456"})
    assert response.status_code == 409 and response.json()["code"] == "mfa_not_enabled"


def test_policy_requiring_2fa_sends_users_to_enrolment(user):
    network = user.network
    network.settings = {**network.settings, "require_2fa": True}
    network.save(update_fields=["settings"])
    selectors.forget_security_state(user.pk)
    client = _signed_in(user)
    response = client.get("/api/v1/users/")
    assert response.status_code == 403 and response.json()["code"] == "mfa_enrolment_required"
    # the 2FA endpoints stay reachable (mfa_exempt): enrol, then the API opens
    assert client.get("/api/v1/account/2fa/").json()["required"] is True
    assert client.post("/api/v1/account/2fa/totp/").status_code == 201
    device = TOTPDevice.objects.get(user=user)
    assert client.post("/api/v1/account/2fa/totp/confirm/", {"code": totp_code(device)}).status_code == 200
    assert client.get("/api/v1/users/").status_code == 200


def test_browser_policy_redirects_to_enrolment_and_verification(user):
    network = user.network
    network.settings = {**network.settings, "require_2fa": True}
    network.save(update_fields=["settings"])
    selectors.forget_security_state(user.pk)
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    response = client.get("/accounts/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/?next=")
    assert client.get("/accounts/2fa/").status_code == 200

    other = UserFactory(network=network)
    device, _ = enable_totp(other)
    stale = Client()
    stale.force_login(other)  # a session that never passed the second factor
    response = stale.get("/accounts/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/verify/")
    response = stale.post("/accounts/2fa/verify/?next=/accounts/profile/", {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    assert stale.get("/accounts/profile/").status_code == 200


def test_disable_with_the_browser_page(user):
    device, codes = enable_totp(user)
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(device)})
    assert client.get("/accounts/2fa/disable/").status_code == 200
    assert client.post("/accounts/2fa/disable/", {"code": "nope"}).status_code == 400
    _reset_throttle(user)
    response = client.post("/accounts/2fa/disable/", {"code": codes[3]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_regenerate_with_the_browser_page_shows_codes_once(user):
    device, codes = enable_totp(user)
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    response = client.post("/accounts/2fa/backup-codes/", {"code": totp_code(device)})
    assert response.status_code == 302
    page = client.get("/accounts/2fa/backup-codes/")
    assert page.content.count(b"<code>") == 10
    assert page["Cache-Control"] == "no-store"
    assert client.get("/accounts/2fa/backup-codes/").content.count(b"<code>") == 0


def test_malformed_and_oversized_input_is_400(user):
    client = _signed_in(user)
    bad_json = client.post("/api/v1/account/2fa/totp/confirm/", "{nope", content_type="application/json")
    assert bad_json.status_code == 400
    too_long = client.post("/api/v1/account/2fa/backup-codes/", {"code": "1" * 100})
    assert too_long.status_code == 400 and "code" in too_long.json()
    weird = client.post("/api/v1/account/2fa/verify/", {"code": ["a", "b"]})
    assert weird.status_code in (400, 409)


def test_headless_2fa_endpoint_without_a_pending_login_is_401(network):
    response = Client().post(
        "/_allauth/app/v1/auth/2fa/authenticate",
        json.dumps({"code": "123456"}),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert Client().get("/accounts/2fa/authenticate/").status_code == 302


def test_browser_enrolment_without_recent_authentication_asks_for_the_password(user):
    client = Client()
    client.force_login(user)
    response = client.post("/accounts/2fa/totp/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/?next=")
    assert client.get(response["Location"]).status_code == 200
    reauth = client.post(response["Location"], {"password": PASSWORD})
    assert reauth.status_code == 302 and reauth["Location"] == "/accounts/2fa/"
    assert client.post("/accounts/2fa/totp/")["Location"] == "/accounts/2fa/totp/"
    assert TOTPDevice.objects.filter(user=user, confirmed=False).exists()
