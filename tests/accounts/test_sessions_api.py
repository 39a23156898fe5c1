"""`/api/v1/account/sessions/…`: list (is_current), revoke one, revoke others; tokens and cookies."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import UserSession
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _app_login(user, agent: str = "ColonyApp/1.0 (iOS)") -> str:
    response = Client(HTTP_USER_AGENT=agent).post(
        "/_allauth/app/v1/auth/login",
        json.dumps({"email": user.email, "password": PASSWORD}),
        content_type="application/json",
    )
    assert response.status_code == 200
    return response.json()["meta"]["session_token"]


def _token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_SESSION_TOKEN=token)
    return client


def test_list_shows_my_live_sessions_with_the_current_one_marked(
    user, other_user, django_assert_max_num_queries
):
    tokens = [_app_login(user) for _ in range(4)]
    _app_login(other_user)
    revoked = UserSession.objects.get(session_key=tokens[3])
    revoked.revoked_at = timezone.now()
    revoked.save()
    UserSession.objects.filter(session_key=tokens[2]).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = _token_client(tokens[0])
    client.get("/api/v1/me/")  # warm the per-session caches
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/account/sessions/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 2
    assert [r["is_current"] for r in rows] == [False, True]  # newest first
    assert rows[1]["kind"] == "app" and rows[1]["ip"] == "127.0.0.1"
    assert rows[1]["device_label"] and "session_key" not in rows[1]


def test_list_query_count_does_not_grow_with_rows(user, django_assert_max_num_queries):
    token = _app_login(user)
    client = _token_client(token)
    client.get("/api/v1/account/sessions/")
    for n in range(8):
        UserSession.objects.create(
            user=user,
            session_key=f"extra{n:035d}",
            expires_at=timezone.now() + timedelta(days=1),
            device_label="Firefox on Linux",
        )
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/account/sessions/")
    assert len(response.json()["results"]) == 9


def test_revoke_one_ends_that_session(user):
    keep, drop = _app_login(user), _app_login(user)
    row = UserSession.objects.get(session_key=drop)
    client = _token_client(keep)
    assert client.get(f"/api/v1/account/sessions/{row.pk}/").status_code == 200
    assert client.delete(f"/api/v1/account/sessions/{row.pk}/").status_code == 204
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert not Session.objects.filter(session_key=drop).exists()
    dead = _token_client(drop).get("/api/v1/me/")
    assert dead.status_code == 401
    assert client.delete(f"/api/v1/account/sessions/{row.pk}/").status_code == 404
    assert client.get("/api/v1/me/").status_code == 200


def test_revoke_others_keeps_the_current_session(user):
    browser = Client()
    browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    tokens = [_app_login(user) for _ in range(2)]
    response = _token_client(tokens[0]).post("/api/v1/account/sessions/revoke-others/")
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    assert browser.get("/accounts/profile/").status_code == 302
    assert _token_client(tokens[1]).get("/api/v1/me/").status_code == 401
    assert _token_client(tokens[0]).get("/api/v1/me/").status_code == 200


def test_cookie_session_appears_as_browser_and_logout_closes_it(user):
    client = APIClient()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, format="multipart")
    rows = client.get("/api/v1/account/sessions/").json()["results"]
    assert [(r["kind"], r["is_current"]) for r in rows] == [("browser", True)]
    client.post("/accounts/logout/", format="multipart")
    assert UserSession.objects.get(user=user).revoked_at is not None


def test_other_users_and_networks_sessions_are_404(user, other_user):
    theirs = UserSession.objects.get(session_key=_app_login(other_user))
    client = _token_client(_app_login(user))
    for method in ("get", "delete"):
        assert getattr(client, method)(f"/api/v1/account/sessions/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/account/sessions/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/account/sessions/not-a-uuid/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_anonymous_and_bogus_tokens_are_401(network):
    assert APIClient().get("/api/v1/account/sessions/").status_code == 401
    response = _token_client("not-a-session").get("/api/v1/account/sessions/")
    assert response.status_code == 401


def test_app_password_change_keeps_this_token_alive_under_its_new_key(user):
    token = _app_login(user)
    other = _app_login(user)
    response = Client().post(
        "/_allauth/app/v1/account/password/change",
        json.dumps({"current_password": PASSWORD, "new_password": "a-new-unusual-passphrase"}),
        content_type="application/json",
        HTTP_X_SESSION_TOKEN=token,
    )
    assert response.status_code == 200, response.content
    new_token = response.json().get("meta", {}).get("session_token", token)
    assert _token_client(new_token).get("/api/v1/me/").status_code == 200
    assert UserSession.objects.get(session_key=new_token).revoked_at is None
    assert _token_client(other).get("/api/v1/me/").status_code == 401


def test_allauth_app_session_endpoint_sees_the_token_user(user):
    token = _app_login(user)
    response = Client().get("/_allauth/app/v1/auth/session", HTTP_X_SESSION_TOKEN=token)
    assert response.status_code == 200
    assert response.json()["data"]["user"]["email"] == user.email
    Client().delete("/_allauth/app/v1/auth/session", HTTP_X_SESSION_TOKEN=token)
    assert _token_client(token).get("/api/v1/me/").status_code == 401
    assert UserSession.objects.get(user=user).revoked_at is not None


def test_token_requests_keep_last_seen_fresh(user):
    from django.core.cache import cache

    token = _app_login(user)
    stale = timezone.now() - timedelta(hours=2)
    UserSession.objects.filter(session_key=token).update(last_seen_at=stale)
    cache.delete(f"usersession:seen:{token}")
    assert _token_client(token).get("/api/v1/me/").status_code == 200
    assert UserSession.objects.get(session_key=token).last_seen_at > stale
