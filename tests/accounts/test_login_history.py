"""Every authentication event leaves a LoginHistory row with IP and user agent."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail
from django.test import Client

from apps.accounts.models import UserSession
from apps.preferences.models import LoginHistory
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import enable_totp, totp_code

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
NEW_PASSWORD = "yet-another-unusual-passphrase"


def _api(client: Client, path: str, body: dict, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def _app_login(client: Client, email: str, password: str, **headers):
    return _api(client, "/_allauth/app/v1/auth/login", {"email": email, "password": password}, **headers)


def _rows(**filters):
    return list(LoginHistory.objects.filter(**filters).order_by("id"))


def test_login_and_logout_are_recorded_with_ip_user_agent_and_session(user):
    client = Client(HTTP_USER_AGENT=FIREFOX)
    assert client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 302
    client.post("/accounts/logout/")
    login, logout = _rows(user=user)
    assert (login.event, login.method, login.ip, login.user_agent) == (
        "login",
        "password",
        "127.0.0.1",
        FIREFOX,
    )
    assert login.session == UserSession.objects.get(user=user)
    assert login.session.device_label == "Firefox on Linux"
    assert login.network_id == user.network_id and not login.is_new_device
    assert (logout.event, logout.session_id) == ("logout", login.session_id)
    assert login.session.__class__.objects.get(pk=login.session_id).revoked_at is not None


def test_new_device_is_flagged_once(user):
    for agent in (FIREFOX, SAFARI, SAFARI):
        assert _app_login(Client(HTTP_USER_AGENT=agent), user.email, PASSWORD).status_code == 200
    assert [r.is_new_device for r in _rows(user=user, event="login")] == [False, True, False]


def test_wrong_password_and_unknown_email_answer_alike_and_are_recorded(user):
    wrong = _app_login(Client(HTTP_USER_AGENT=FIREFOX), user.email, "not-the-password")
    unknown = _app_login(Client(HTTP_USER_AGENT=FIREFOX), "nobody@example.com", "not-the-password")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    failed = _rows(event="login_failed")
    assert [(r.user_id, r.attempted_email, r.failure_reason) for r in failed] == [
        (user.pk, user.email, "wrong_password"),
        (None, "nobody@example.com", "unknown_email"),
    ]
    assert all(r.ip == "127.0.0.1" and r.user_agent == FIREFOX for r in failed)
    assert {r.network_id for r in failed} == {user.network_id}


def test_unverified_email_login_is_recorded_as_failed(network):
    user = UserFactory(network=network, verified=False)
    response = _app_login(Client(), user.email, PASSWORD)
    assert response.status_code == 401
    (row,) = _rows(user=user)
    assert (row.event, row.failure_reason) == ("login_failed", "email_not_verified")


def test_suspended_user_cannot_sign_in(user):
    from apps.accounts import services

    services.suspend_user(actor=user, user=user, reason="spam")
    response = _app_login(Client(), user.email, PASSWORD)
    assert response.status_code == 401
    assert response.json()["meta"]["is_authenticated"] is False
    (row,) = _rows(user=user, event="login_failed")
    assert row.failure_reason == "suspended"


def test_repeated_failures_lock_the_account_out_and_record_it(user):
    client = Client(HTTP_USER_AGENT=FIREFOX)
    for _ in range(5):
        assert _app_login(client, user.email, "wrong-password-here").status_code == 400
    locked = _app_login(client, user.email, PASSWORD)  # even the right password is refused now
    assert locked.status_code == 400
    assert locked.json()["errors"][0]["code"] == "too_many_login_attempts"
    rows = _rows(user=user)
    assert [r.event for r in rows] == ["login_failed"] * 5 + ["locked_out"]
    assert rows[-1].failure_reason == "too_many_login_attempts" and rows[-1].user_agent == FIREFOX
    assert not UserSession.objects.filter(user=user).exists()


def test_mfa_challenge_and_failure_are_recorded(user):
    device, _ = enable_totp(user)
    client = Client()
    response = _app_login(client, user.email, PASSWORD)
    token = response.json()["meta"]["session_token"]
    bad = _api(
        client, "/_allauth/app/v1/auth/2fa/authenticate", {"code": "12345"}, HTTP_X_SESSION_TOKEN=token
    )
    assert bad.status_code == 400
    assert [r.event for r in _rows(user=user)] == ["mfa_challenge", "mfa_failed"]
    assert _rows(user=user)[1].failure_reason == "invalid_code (login)"
    device.refresh_from_db()
    assert totp_code(device)


def test_password_change_is_recorded_and_signs_out_other_sessions(user):
    other = Client()
    other.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client = Client(HTTP_USER_AGENT=FIREFOX)
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    (row,) = _rows(user=user, event="password_changed")
    assert row.user_agent == FIREFOX
    assert client.get("/accounts/profile/").status_code == 200
    assert other.get("/accounts/profile/").status_code == 302
    assert UserSession.objects.filter(user=user, revoked_at__isnull=True).count() == 1


def test_password_change_with_a_weak_password_is_refused(user):
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "12345678", "password2": "12345678"},
    )
    assert response.status_code == 200 and b"errorlist" in response.content
    assert not _rows(user=user, event="password_changed")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_reset_by_key_is_recorded_and_the_key_is_single_use(user):
    app = Client()
    assert _api(app, "/_allauth/app/v1/auth/password/request", {"email": user.email}).status_code == 200
    assert (
        _api(app, "/_allauth/app/v1/auth/password/request", {"email": "ghost@example.com"}).status_code == 200
    )
    key = re.search(r"/accounts/password/reset/key/([^/\s]+)/", mail.outbox[0].body).group(1)
    assert mail.outbox[1].to == ["ghost@example.com"]  # "no account" notice, same answer to the caller
    weak = _api(app, "/_allauth/app/v1/auth/password/reset", {"key": key, "password": "short"})
    assert weak.status_code == 400
    done = _api(app, "/_allauth/app/v1/auth/password/reset", {"key": key, "password": NEW_PASSWORD})
    assert done.status_code == 401  # reset, not signed in
    again = _api(app, "/_allauth/app/v1/auth/password/reset", {"key": key, "password": NEW_PASSWORD + "x"})
    assert again.status_code == 400
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert [r.event for r in _rows(user=user)] == ["password_reset"]


def test_reused_or_bogus_email_verification_key_is_400(network):
    client = Client()
    _api(client, "/_allauth/app/v1/auth/signup", {"email": "v@example.com", "password": NEW_PASSWORD})
    key = re.search(r"/accounts/confirm-email/([^/\s]+)/", mail.outbox[-1].body).group(1)
    assert _api(client, "/_allauth/app/v1/auth/email/verify", {"key": "nope"}).status_code == 400
    assert _api(client, "/_allauth/app/v1/auth/email/verify", {"key": key}).status_code == 401
    reused = _api(Client(), "/_allauth/app/v1/auth/email/verify", {"key": key})
    assert reused.status_code in (400, 409)
