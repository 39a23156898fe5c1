"""The key management API: create (secret once), list, read, rename, revoke, rotate, usage, scopes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.apikeys import tokens
from apps.apikeys.models import ApiKey, ApiKeyUsage
from apps.apikeys.scopes import PRESETS, SCOPES
from apps.core.models import AuditEvent
from tests.accounts.factories import PASSWORD, UserFactory

from .factories import bearer, issue_key, make_agent

pytestmark = pytest.mark.django_db

URL = "/api/v1/api-keys/"


def _create(client, **body):
    body.setdefault("name", "ci")
    body.setdefault("scopes", ["profile:read"])
    body.setdefault("password", PASSWORD)
    return client.post(URL, body, format="json")


# --- create -----------------------------------------------------------------------


def test_create_returns_secret_once_and_stores_only_its_hmac(user_client, user):
    response = _create(user_client, scopes=["profile:read", "projects:write"])
    assert response.status_code == 201, response.json()
    body = response.json()
    token = body["key"]
    prefix, secret = tokens.parse(token)
    assert body["prefix"] == prefix and 8 <= len(prefix) <= 12
    assert token == f"col_{prefix}_{secret}"
    row = ApiKey.objects.get(pk=body["id"])
    assert row.secret_hash == tokens.hash_secret(secret) and len(row.secret_hash) == 64
    assert secret not in str(ApiKey.objects.filter(pk=row.pk).values().get())
    assert row.user == user and row.created_by == user and row.network_id == user.network_id
    # never again: not in read, list, or the audit trail
    again = user_client.get(f"{URL}{row.pk}/").json()
    assert "key" not in again and "secret_hash" not in again
    assert secret not in str(user_client.get(URL).json())
    event = AuditEvent.objects.get(action="apikey.created", target_id=row.pk)
    assert secret not in str(event.data)


def test_create_defaults_to_90_days_and_refuses_more_than_365(user_client):
    body = _create(user_client).json()
    expires = ApiKey.objects.get(pk=body["id"]).expires_at
    assert abs((expires - timezone.now()) - timedelta(days=90)) < timedelta(minutes=1)
    too_long = _create(user_client, expires_at=(timezone.now() + timedelta(days=366)).isoformat())
    assert too_long.status_code == 400 and "expires_at" in too_long.json()
    past = _create(user_client, expires_at=(timezone.now() - timedelta(minutes=1)).isoformat())
    assert past.status_code == 400 and "expires_at" in past.json()


def test_unknown_scope_is_400_naming_it(user_client):
    response = _create(user_client, scopes=["profile:read", "keys:write"])
    assert response.status_code == 400
    assert "keys:write" in response.json()["scopes"][0]
    assert _create(user_client, scopes=[]).status_code == 400
    assert not ApiKey.objects.exists()


def test_presets_expand_at_creation(user_client):
    body = _create(user_client, scopes=["read-only", "chat:write"]).json()
    expected = sorted({*PRESETS["read-only"][1], "chat:write"})
    assert body["scopes"] == expected
    assert all(scope.endswith(":read") for scope in PRESETS["read-only"][1])
    assert set(PRESETS["full"][1]) == set(SCOPES)


def test_allowed_ips_are_validated_and_normalized(user_client):
    bad = _create(user_client, allowed_ips=["10.0.0.0/8", "not-an-ip"])
    assert bad.status_code == 400 and "not-an-ip" in bad.json()["allowed_ips"][0]
    ok = _create(user_client, allowed_ips=["10.1.2.3/8", "2001:db8::1"])
    assert ok.json()["allowed_ips"] == ["10.0.0.0/8", "2001:db8::1/128"]


def test_more_than_the_active_limit_is_409(user_client, user, settings):
    settings.API_KEY_MAX_ACTIVE_PER_USER = 2
    assert _create(user_client).status_code == 201
    second = _create(user_client).json()
    third = _create(user_client)
    assert third.status_code == 409 and third.json()["code"] == "too_many_keys"
    user_client.post(f"{URL}{second['id']}/revoke/", {}, format="json")
    assert _create(user_client).status_code == 201


def test_create_needs_password_or_a_recent_login(user_client, user):
    response = _create(user_client, password="")
    assert response.status_code == 401
    assert response.json()["code"] == "reauthentication_required"
    wrong = _create(user_client, password="not it")
    assert wrong.status_code == 400 and "password" in wrong.json()
    assert not ApiKey.objects.exists()


def test_recent_login_in_the_session_is_enough(user):
    client = APIClient()
    client.force_login(user)
    session = client.session
    session["account_authentication_methods_user"] = str(user.pk)
    session["account_authentication_methods"] = [{"method": "password", "at": time.time() - 60}]
    session.save()
    assert _create(client, password="").status_code == 201
    session["account_authentication_methods"] = [{"method": "password", "at": time.time() - 601}]
    session.save()
    assert _create(client, password="").status_code == 401


def test_wrong_passwords_are_rate_limited(user_client):
    for _ in range(5):
        assert _create(user_client, password="nope").status_code == 400
    response = _create(user_client, password=PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_key_for_my_agent_acts_as_the_agent(user_client, user, network):
    agent = make_agent(owner=user)
    body = _create(user_client, agent=str(agent.pk), scopes=["agent-default"]).json()
    row = ApiKey.objects.get(pk=body["id"])
    assert row.user == agent and row.created_by == user
    me = APIClient().get("/api/v1/me/", **bearer(body["key"]))
    assert me.status_code == 200 and me.json()["id"] == str(agent.pk)
    # the owner lists and filters the agent's keys
    listed = user_client.get(f"{URL}?agent={agent.pk}").json()["results"]
    assert [k["id"] for k in listed] == [body["id"]]


def test_key_for_someone_elses_agent_is_400_does_not_exist(user_client, network):
    stranger_agent = make_agent(owner=UserFactory(network=network))
    response = _create(user_client, agent=str(stranger_agent.pk))
    assert response.status_code == 400
    assert "does not exist" in response.json()["agent"][0]


def test_key_management_refuses_api_keys(user):
    issued = issue_key(user, scopes=["full"])
    client = APIClient()
    response = client.get(URL, **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "api_key_forbidden"
    response = client.post(f"{URL}{issued.api_key.pk}/revoke/", {}, format="json", **bearer(issued.token))
    assert response.status_code == 403
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is None


# --- list / read / rename ----------------------------------------------------------


def test_list_shows_my_keys_and_my_agents_keys_only(user_client, user, network):
    mine = issue_key(user).api_key
    agent = make_agent(owner=user)
    agents = issue_key(agent).api_key
    issue_key(UserFactory(network=network))  # a neighbour's key
    ids = {row["id"] for row in user_client.get(URL).json()["results"]}
    assert ids == {str(mine.pk), str(agents.pk)}


def test_neighbours_key_in_same_network_is_404(user_client, network):
    theirs = issue_key(UserFactory(network=network)).api_key
    assert user_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert user_client.post(f"{URL}{theirs.pk}/revoke/", {}, format="json").status_code == 404
    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None


def test_list_runs_constant_queries(user_client, user, django_assert_max_num_queries, settings):
    settings.API_KEY_MAX_ACTIVE_PER_USER = 50
    for _ in range(12):
        issue_key(user)
    user_client.get(URL)  # warm the session caches
    with django_assert_max_num_queries(4):
        response = user_client.get(URL)
    assert len(response.json()["results"]) == 12
    with django_assert_max_num_queries(4):
        user_client.get(f"{URL}?active=true")


def test_list_shows_prefix_scopes_last_used_and_expiry(user_client, user):
    issued = issue_key(user, scopes=["profile:read"])
    APIClient().get("/api/v1/me/", **bearer(issued.token))
    row = user_client.get(URL).json()["results"][0]
    assert row["prefix"] == issued.api_key.prefix
    assert row["key_hint"] == f"col_{issued.api_key.prefix}_…"
    assert row["scopes"] == ["profile:read"]
    assert row["last_used_at"] is not None and row["last_used_ip"] == "127.0.0.1"
    assert row["expires_at"] is not None and row["is_active"] is True


def test_rename_changes_only_the_name(user_client, user):
    api_key = issue_key(user, scopes=["profile:read"]).api_key
    response = user_client.patch(
        f"{URL}{api_key.pk}/", {"name": "renamed", "scopes": ["full"]}, format="json"
    )
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.name == "renamed" and api_key.scopes == ["profile:read"]
    assert user_client.put(f"{URL}{api_key.pk}/", {"name": "x"}, format="json").status_code == 405
    assert user_client.patch(f"{URL}{api_key.pk}/", {"name": ""}, format="json").status_code == 400


# --- revoke / rotate -------------------------------------------------------------------


def test_revoke_refuses_the_key_at_once_and_twice_is_409(
    user_client, user, django_capture_on_commit_callbacks
):
    issued = issue_key(user, scopes=["profile:read"])
    client = APIClient()
    assert client.get("/api/v1/me/", **bearer(issued.token)).status_code == 200  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(f"{URL}{issued.api_key.pk}/revoke/", {"reason": "leaked"}, format="json")
    assert response.status_code == 200 and response.json()["revoked_at"]
    refused = client.get("/api/v1/me/", **bearer(issued.token))
    assert refused.status_code == 401 and refused.json()["code"] == "api_key_revoked"
    again = user_client.post(f"{URL}{issued.api_key.pk}/revoke/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert AuditEvent.objects.filter(action="apikey.revoked", target_id=issued.api_key.pk).count() == 1


def test_rotate_issues_a_new_key_and_the_old_one_expires_in_24h(user_client, user):
    old = issue_key(user, scopes=["profile:read"], allowed_ips=["127.0.0.0/8"])
    response = user_client.post(f"{URL}{old.api_key.pk}/rotate/", {"password": PASSWORD}, format="json")
    assert response.status_code == 201, response.json()
    new = response.json()
    assert new["key"] != old.token and new["scopes"] == ["profile:read"]
    assert new["allowed_ips"] == ["127.0.0.0/8"]
    old.api_key.refresh_from_db()
    assert str(old.api_key.replaced_by_id) == new["id"]
    assert abs(old.api_key.expires_at - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)
    client = APIClient()
    assert client.get("/api/v1/me/", **bearer(old.token)).status_code == 200  # grace period
    assert client.get("/api/v1/me/", **bearer(new["key"])).status_code == 200
    twice = user_client.post(f"{URL}{old.api_key.pk}/rotate/", {"password": PASSWORD}, format="json")
    assert twice.status_code == 409


def test_rotate_needs_recent_authentication(user_client, user):
    old = issue_key(user)
    response = user_client.post(f"{URL}{old.api_key.pk}/rotate/", {}, format="json")
    assert response.status_code == 401
    assert ApiKey.objects.count() == 1


def test_rotated_key_does_not_count_against_the_limit(user_client, user, settings):
    settings.API_KEY_MAX_ACTIVE_PER_USER = 1
    old = issue_key(user)
    assert user_client.post(f"{URL}{old.api_key.pk}/rotate/", {"password": PASSWORD}).status_code == 201
    assert _create(user_client).status_code == 409


# --- usage / scopes ----------------------------------------------------------------------


def test_usage_lists_hours_newest_first_with_constant_queries(
    user_client, user, django_assert_max_num_queries
):
    api_key = issue_key(user).api_key
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    ApiKeyUsage.objects.bulk_create(
        [
            ApiKeyUsage(
                network=user.network, api_key=api_key, hour_at=hour - timedelta(hours=i), request_count=i
            )
            for i in range(10)
        ]
    )
    user_client.get(f"{URL}{api_key.pk}/usage/")
    with django_assert_max_num_queries(4):
        response = user_client.get(f"{URL}{api_key.pk}/usage/?page_size=5")
    body = response.json()
    assert [row["request_count"] for row in body["results"]] == [0, 1, 2, 3, 4]
    assert body["next"]
    rest = user_client.get(body["next"]).json()["results"]
    assert [row["request_count"] for row in rest] == [5, 6, 7, 8, 9]


def test_scope_registry_lists_every_scope_and_the_presets(user_client):
    body = user_client.get(f"{URL}scopes/").json()
    listed = {row["scope"]: row["description"] for row in body["scopes"]}
    assert listed == SCOPES
    assert "projects:deploy" in listed and "users:read" in listed and "users:write" not in listed
    assert {p["name"] for p in body["presets"]} == {"read-only", "agent-default", "full"}


def test_garbage_input_is_400_never_500(user_client, user):
    api_key = issue_key(user).api_key
    for body in (
        {"name": "x", "scopes": "profile:read", "password": PASSWORD},
        {"name": "x", "scopes": [1, None], "password": PASSWORD},
        {"name": "x", "scopes": ["profile:read"], "expires_at": "soon", "password": PASSWORD},
        {"name": "x", "scopes": ["profile:read"], "agent": "not-a-uuid", "password": PASSWORD},
        {"name": "x", "scopes": ["profile:read"], "allowed_ips": [["nested"]], "password": PASSWORD},
    ):
        assert user_client.post(URL, body, format="json").status_code == 400, body
    assert user_client.get(f"{URL}not-a-uuid/").status_code == 404
    assert user_client.get(f"{URL}?agent=garbage").status_code == 200
    assert user_client.patch(f"{URL}{api_key.pk}/", {"name": ["x"]}, format="json").status_code == 400
