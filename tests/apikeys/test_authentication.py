"""Bearer authentication: who a key acts as, what it may do, and when it is refused."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.apikeys import hotpath, services, usage
from apps.apikeys.models import ApiKey
from apps.apikeys.scopes import required_scope
from apps.core.ratelimit import peek
from apps.core.redis import get_raw, get_redis
from apps.organizations.models import Organization, OrganizationMember, OrganizationSecurityPolicy
from tests.accounts.factories import PASSWORD, UserFactory

from .factories import bearer, issue_key, make_agent

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


@pytest.fixture
def client():
    return APIClient()


def test_bearer_key_authenticates_as_its_user_in_its_network(client, user):
    issued = issue_key(user, scopes=["profile:read"])
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 200
    assert response.json()["id"] == str(user.pk)
    assert response.json()["network"]["id"] == str(user.network_id)


def test_request_auth_is_the_key_with_its_network(rf, user):
    from rest_framework.request import Request

    from apps.apikeys.authentication import ApiKeyAuthentication
    from apps.core.tenancy import principal_network

    issued = issue_key(user)
    request = Request(rf.get(ME, **bearer(issued.token)))
    authed_user, api_key = ApiKeyAuthentication().authenticate(request)
    assert authed_user == user and api_key.is_api_key and api_key.pk == issued.api_key.pk
    assert principal_network(authed_user, api_key) == user.network


def test_read_scope_can_get_but_not_write(client, user):
    issued = issue_key(user, scopes=["profile:read"])
    assert client.get(ME, **bearer(issued.token)).status_code == 200
    response = client.patch(ME, {"display_name": "Mallory"}, format="json", **bearer(issued.token))
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert "profile:write" in response.json()["detail"]
    user.refresh_from_db()
    assert user.display_name != "Mallory"


def test_write_scope_can_write_and_read(client, user):
    issued = issue_key(user, scopes=["profile:write"])
    response = client.patch(ME, {"display_name": "Renamed"}, format="json", **bearer(issued.token))
    assert response.status_code == 200
    assert client.get(ME, **bearer(issued.token)).status_code == 200


def test_key_without_the_resource_scope_is_403(client, user):
    issued = issue_key(user, scopes=["projects:read"])
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"


@pytest.mark.urls("tests.testapp.urls")
def test_view_without_scope_resource_refuses_keys(client, user):
    issued = issue_key(user, scopes=["full"])
    response = client.get("/api/v1/widgets/", **bearer(issued.token))
    assert response.status_code == 403
    assert response.json()["code"] == "api_key_forbidden"


def test_scope_map_overrides_the_action_and_method(rf):
    class View:
        scope_resource = "projects"
        scope_map = {"deploy": "projects:deploy"}
        action = "deploy"

    assert required_scope(View(), rf.post("/")) == "projects:deploy"
    View.action = "partial_update"
    assert required_scope(View(), rf.patch("/")) == "projects:write"
    assert required_scope(View(), rf.get("/")) == "projects:read"
    View.scope_resource = None
    assert required_scope(View(), rf.get("/")) is None


def test_a_key_never_exceeds_its_user(client, network):
    """Scopes only narrow: a full key of a plain member is still a plain member."""
    member = UserFactory(network=network)
    issued = issue_key(member, scopes=["full"])
    response = client.patch(
        "/api/v1/networks/current/", {"name": "Hijacked"}, format="json", **bearer(issued.token)
    )
    assert response.status_code == 403
    network.refresh_from_db()
    assert network.name != "Hijacked"


# --- refusals ---------------------------------------------------------------------------


def test_unknown_or_malformed_or_wrong_secret_is_401(client, user):
    issued = issue_key(user)
    prefix = issued.api_key.prefix
    for token in (
        "col_nope",
        f"col_{prefix}_{'A' * 43}",
        "col_ZZZZZZZZZZ_" + "B" * 43,
        issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"),
    ):
        response = client.get(ME, **bearer(token))
        assert response.status_code == 401, token
        assert response.json()["code"] == "invalid_api_key"
        assert response["WWW-Authenticate"] == "Bearer"


def test_revoked_key_is_401(client, user, django_capture_on_commit_callbacks):
    issued = issue_key(user)
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_api_key(actor=user, api_key=issued.api_key)
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 401 and response.json()["code"] == "api_key_revoked"


def test_expired_key_is_401(client, user):
    issued = issue_key(user)
    ApiKey.objects.filter(pk=issued.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 401 and response.json()["code"] == "api_key_expired"


def test_expiry_is_checked_on_every_request_even_when_cached(client, user):
    """The cached record carries expires_at: the key stops at its expiry, not 60 s later."""
    issued = issue_key(user, expires_at=timezone.now() + timedelta(days=1))
    assert client.get(ME, **bearer(issued.token)).status_code == 200  # record now cached
    name = hotpath.principal_key(issued.api_key.prefix)
    record = hotpath.decode_record(get_raw(name))
    get_redis().set(name, hotpath.encode_record(replace(record, expires_at=time.time() - 1)), ex=60)
    assert client.get(ME, **bearer(issued.token)).json()["code"] == "api_key_expired"


def test_ip_outside_allowed_ips_is_403(client, user):
    issued = issue_key(user, allowed_ips=["10.0.0.0/8"])
    response = client.get(ME, REMOTE_ADDR="192.0.2.1", **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "ip_not_allowed"
    assert client.get(ME, REMOTE_ADDR="10.9.8.7", **bearer(issued.token)).status_code == 200


def test_inactive_user_is_refused(client, user):
    issued = issue_key(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(ME, **bearer(issued.token)).status_code == 401


def test_user_pending_deletion_is_refused_until_cancelled(client, user, django_capture_on_commit_callbacks):
    from apps.preferences.services import deletion as deletion_services

    issued = issue_key(user)
    assert client.get(ME, **bearer(issued.token)).status_code == 200  # principal cached
    with django_capture_on_commit_callbacks(execute=True):
        request = deletion_services.request_account_deletion(actor=user, password=PASSWORD)
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 401 and response.json()["code"] == "user_inactive"
    with django_capture_on_commit_callbacks(execute=True):
        deletion_services.cancel_account_deletion(actor=user, deletion=request)
    assert client.get(ME, **bearer(issued.token)).status_code == 200


def test_suspended_user_is_403_account_suspended(client, user):
    issued = issue_key(user)
    user.suspended_until = timezone.now() + timedelta(days=1)
    user.save(update_fields=["suspended_until"])
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "account_suspended"


def test_disabled_agent_is_403(client, user):
    agent = make_agent(owner=user)
    issued = issue_key(agent, scopes=["agent-default"])
    assert client.get(ME, **bearer(issued.token)).status_code == 200
    agent.agent_status = "disabled"
    agent.save(update_fields=["agent_status"])
    assert client.get(ME, **bearer(issued.token)).status_code == 403


def test_suspended_network_is_403_network_suspended(client, user, network):
    issued = issue_key(user)
    network.status = "suspended"
    network.save(update_fields=["status"])
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "network_suspended"


def _org_with_member(network, user, *, allowed=True):
    org = Organization.objects.create(network=network, name="Acme", slug="acme")
    OrganizationMember.objects.create(network=network, organization=org, user=user, role="owner")
    OrganizationSecurityPolicy.objects.create(network=network, organization=org, api_keys_allowed=allowed)
    return org


def test_org_policy_disallowing_keys_refuses_org_limited_keys(client, user, network):
    org = _org_with_member(network, user)
    limited = issue_key(user, organization=org)
    unlimited = issue_key(user)
    assert client.get(ME, **bearer(limited.token)).status_code == 200
    OrganizationSecurityPolicy.objects.filter(organization=org).update(api_keys_allowed=False)
    response = client.get(ME, **bearer(limited.token))
    assert response.status_code == 403 and response.json()["code"] == "api_keys_disabled"
    assert client.get(ME, **bearer(unlimited.token)).status_code == 200


def test_org_limited_key_stops_when_the_user_leaves_the_org(client, user, network):
    org = _org_with_member(network, user)
    issued = issue_key(user, organization=org)
    OrganizationMember.objects.filter(organization=org, user=user).delete()
    assert client.get(ME, **bearer(issued.token)).status_code == 403


def test_creating_org_limited_key_needs_membership_and_policy(user, network):
    from apps.core.exceptions import ValidationFailed

    other_org = Organization.objects.create(network=network, name="Other", slug="other")
    with pytest.raises(ValidationFailed, match="does not exist"):
        issue_key(user, organization=other_org)
    closed = _org_with_member(network, user, allowed=False)
    with pytest.raises(ValidationFailed, match="does not allow"):
        issue_key(user, organization=closed)


# --- rate limit ---------------------------------------------------------------------------


def test_rate_limit_is_429_with_retry_after(client, user, settings):
    settings.API_KEY_RATE_LIMIT_PER_MINUTE = 3
    issued = issue_key(user)
    for _ in range(3):
        assert client.get(ME, **bearer(issued.token)).status_code == 200
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    # the global count holds the tokens handed out (a refused request adds at most one)
    assert peek(usage.rate_bucket(issued.api_key.pk), usage.key_rate()) in (3, 4)
    assert usage.pending(issued.api_key.pk) == {"r": 4, "e": 0, "t": 1}
    # another key of the same user has its own budget
    assert client.get(ME, **bearer(issue_key(user).token)).status_code == 200


def test_network_suspension_refuses_a_cached_key_at_once(
    client, user, network, django_capture_on_commit_callbacks
):
    from apps.networks import services as network_services

    issued = issue_key(user)
    assert client.get(ME, **bearer(issued.token)).status_code == 200  # principal cached
    with django_capture_on_commit_callbacks(execute=True):
        network_services.suspend_network(actor=None, network=network)
    response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "network_suspended"
