"""The shared request path stays at its floor (issue 8), and keeps every rule while it does.

* A warm ``GET /api/v1/me/`` runs no SQL and no Redis round trip (the
  issue allows three) — session signed in through the real login form (its
  entry, user, network and security state from the near cache,
  ``apps.core.nearcache``, filled by one Lua call via the session's
  pointer) and an API key (the same copies; its rate limit and usage
  charged by ``apps.apikeys.usage.Meter``, which claims tokens from Redis
  in doubling batches) — counted on the real connections to the real
  Redis, so the path cannot silently regress.
* The session's pointer is only a hint: a pointer to another user, a
  session gone from the cache, a logged-out session or missing principal
  entries all give what Django's own session lookup would.
* The faster paths keep every rule: a revoked session, a suspended user or
  network, a changed password, a removed 2FA device and a stale cached user
  take effect within the promised bound (immediately on the write paths
  that send the invalidation; a row changed behind the ORM's back within
  the principal cache's 60 s TTL).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
import redis.connection
from django.test import Client
from django.utils import timezone

from apps.accounts import principals
from apps.accounts.models import User, UserSession
from apps.core.redis import get_redis
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import enable_totp, totp_code

pytestmark = pytest.mark.django_db


@contextmanager
def redis_round_trips():
    """Count the round trips this process makes to Redis: one per packed send (a pipeline is one)."""
    calls: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    caller = threading.get_ident()  # the near cache's tracking thread pings on its own

    def counting(self, command, check_health=True):
        if threading.get_ident() == caller:
            calls.append(1)
        return original(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counting
    try:
        yield calls
    finally:
        redis.connection.AbstractConnection.send_packed_command = original


def _signed_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    assert UserSession.objects.filter(user=user).exists()
    return client


def _api_key_client(user) -> Client:
    from apps.apikeys.services import create_api_key

    issued = create_api_key(actor=user, name="bench", scopes=["profile:read"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}")


def _warm(client: Client, n: int = 3) -> None:
    for _ in range(n):
        assert client.get("/api/v1/me/").status_code == 200


# --- the floor ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_client", "most_round_trips"), [(_signed_in, 0), (_api_key_client, 7)], ids=["session", "api_key"]
)
def test_a_warm_me_runs_no_sql_and_no_redis_round_trip(
    network, django_assert_num_queries, make_client, most_round_trips, settings
):
    """Warm, each request is served from the process's near copies: no SQL, no Redis — save, for
    an API key, the meter claiming rate-limit tokens in doubling batches (1, 2, 4, … up to
    limit/64: a handful of round trips in 64 requests, never more than one in a request)."""
    settings.API_KEY_RATE_LIMIT_PER_MINUTE = 100_000
    user = UserFactory(network=network)
    client = make_client(user)
    _warm(client)
    per_request = []
    for _ in range(64):
        with django_assert_num_queries(0), redis_round_trips() as trips:
            response = client.get("/api/v1/me/")
        assert response.status_code == 200 and response.json()["id"] == str(user.pk)
        assert len(trips) <= 1, f"{len(trips)} Redis round trips in one request: {trips}"
        per_request.append(len(trips))
    assert sum(per_request) <= most_round_trips, per_request


def _session_key(client: Client) -> str:
    return client.cookies["sessionid"].value


def test_a_pointer_to_another_user_is_ignored(network):
    user, other = UserFactory(network=network), UserFactory(network=network)
    client, other_client = _signed_in(user), _signed_in(other)
    _warm(client)
    _warm(other_client)  # the other user's entries are warm: a wrong hint would be served from them
    get_redis().set(principals.session_pointer_key(_session_key(client)), str(other.pk), ex=60)
    with redis_round_trips() as trips:
        response = client.get("/api/v1/me/")
    assert response.status_code == 200 and response.json()["id"] == str(user.pk)
    assert len(trips) == 2  # the hint, then the session's own user (which repoints the session)
    assert get_redis().get(principals.session_pointer_key(_session_key(client))) == str(user.pk)
    assert client.get("/api/v1/me/").json()["id"] == str(user.pk)


def test_a_session_gone_from_the_cache_is_read_from_the_database(network):
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX
    from django.core.cache import cache

    user = UserFactory(network=network)
    client = _signed_in(user)
    _warm(client)
    cache.delete(KEY_PREFIX + _session_key(client))
    assert client.get("/api/v1/me/").json()["id"] == str(user.pk)
    assert cache.get(KEY_PREFIX + _session_key(client)) is not None  # written back, as cached_db does


def test_a_logged_out_session_stays_out_whatever_its_pointer_says(network):
    user = UserFactory(network=network)
    client = _signed_in(user)
    _warm(client)
    key = _session_key(client)
    assert client.post("/accounts/logout/").status_code == 302
    get_redis().set(principals.session_pointer_key(key), str(user.pk), ex=60)
    stale = Client()
    stale.cookies["sessionid"] = key
    assert stale.get("/api/v1/me/").status_code in (401, 403)


def test_missing_principal_entries_are_loaded_for_a_pointed_session(network, django_assert_max_num_queries):
    user = UserFactory(network=network)
    client = _signed_in(user)
    _warm(client)
    get_redis().delete(principals.user_key(user.pk))
    with django_assert_max_num_queries(1):
        assert client.get("/api/v1/me/").json()["id"] == str(user.pk)


def test_a_cold_principal_costs_one_query_and_is_cached_for_the_ttl(network, django_assert_max_num_queries):
    user = UserFactory(network=network)
    client = _signed_in(user)
    _warm(client)
    get_redis().delete(principals.user_key(user.pk), principals.network_key(network.pk))
    with django_assert_max_num_queries(1):
        assert client.get("/api/v1/me/").status_code == 200
    assert 0 < get_redis().ttl(principals.user_key(user.pk)) <= principals.TTL
    assert 0 < get_redis().ttl(principals.network_key(network.pk)) <= principals.TTL


def test_a_profile_edit_validates_what_changed_in_a_handful_of_statements(
    network, django_assert_max_num_queries
):
    """``PATCH /api/v1/me/`` validated every CHECK constraint of the user row by a SELECT in a
    savepoint (31 statements); it validates the fields it changes (still a clear 400) and writes."""
    user = UserFactory(network=network)
    client = _signed_in(user)
    _warm(client)
    with django_assert_max_num_queries(5):
        response = client.patch("/api/v1/me/", {"display_name": "New name"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["display_name"] == "New name"
    too_long = client.patch("/api/v1/me/", {"display_name": "x" * 500}, content_type="application/json")
    assert too_long.status_code == 400 and "display_name" in too_long.json(), too_long.json()
    user.refresh_from_db()
    assert user.display_name == "New name"


# --- the rules the cache must not bend -------------------------------------------------------


def test_a_revoked_session_is_refused_on_the_next_request(network, django_capture_on_commit_callbacks):
    from apps.accounts import services

    user = UserFactory(network=network)
    client = _signed_in(user)
    _warm(client)
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_sessions(user=user, sessions=list(UserSession.objects.filter(user=user)))
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_a_suspended_user_is_refused_on_the_next_request(network, django_capture_on_commit_callbacks):
    from apps.accounts import services

    staff = UserFactory(network=network, is_staff=True)
    user = UserFactory(network=network)
    session_client, key_client = _signed_in(user), _api_key_client(user)
    _warm(session_client)
    _warm(key_client)
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend_user(actor=staff, user=user, reason="test")
    assert session_client.get("/api/v1/me/").status_code in (401, 403)
    assert key_client.get("/api/v1/me/").status_code in (401, 403)


def test_a_suspended_network_is_refused_on_the_next_request(network, django_capture_on_commit_callbacks):
    user = UserFactory(network=network)
    session_client, key_client = _signed_in(user), _api_key_client(user)
    _warm(session_client)
    _warm(key_client)
    network.status = "suspended"
    with django_capture_on_commit_callbacks(execute=True):
        network.save()
    assert session_client.get("/api/v1/me/").status_code in (401, 403)
    assert key_client.get("/api/v1/me/").status_code in (401, 403)


def test_a_changed_password_ends_the_other_sessions_on_their_next_request(
    network, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    client = _signed_in(user)
    _warm(client)
    user = User.objects.get(pk=user.pk)
    user.set_password("another-password-5678")
    with django_capture_on_commit_callbacks(execute=True):
        user.save()
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_a_removed_second_factor_shows_on_the_next_request(network, django_capture_on_commit_callbacks):
    from apps.accounts import twofactor

    user = UserFactory(network=network)
    device, _ = enable_totp(user)
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.post("/accounts/2fa/authenticate/", {"code": totp_code(device)}).status_code == 302
    assert client.get("/api/v1/me/").json()["has_2fa"] is True
    _warm(client)
    with django_capture_on_commit_callbacks(execute=True):
        twofactor.disable_two_factor(user=user, code=totp_code(device))
    assert client.get("/api/v1/me/").json()["has_2fa"] is False


def test_a_row_changed_behind_the_orm_shows_once_the_cached_user_expires(network):
    """A raw UPDATE sends no invalidation: the cached user serves until its TTL (≤ 60 s), then the row."""
    user = UserFactory(network=network, display_name="Before")
    client = _signed_in(user)
    _warm(client)
    User.objects.filter(pk=user.pk).update(
        display_name="After", suspended_until=timezone.now() + timezone.timedelta(days=1)
    )
    assert 0 < get_redis().ttl(principals.user_key(user.pk)) <= 60  # the promised bound
    get_redis().delete(principals.user_key(user.pk))  # what the TTL does at the latest
    assert client.get("/api/v1/me/").status_code in (401, 403)
