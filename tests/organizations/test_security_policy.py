"""The security policy is enforced on the org's endpoints, not only stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts.models import UserSession
from apps.accounts.selectors import MFA_SESSION_KEY, security_state
from apps.organizations import selectors, services
from tests.apikeys.factories import bearer, issue_key, make_agent
from tests.preferences.helpers import logged_in_client

from .conftest import client_for
from .factories import OrganizationFactory, OrganizationMemberFactory
from .helpers import actions, members_url, org_url, policy_url

pytestmark = pytest.mark.django_db


def _policy(org, **changes):
    type(org.security_policy).objects.filter(pk=org.security_policy.pk).update(**changes)
    org.security_policy.refresh_from_db()


def _with_totp(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _mfa_passed(client, device) -> None:
    session = client.session
    session[MFA_SESSION_KEY] = device.pk
    session.save()


# --- require_2fa -------------------------------------------------------------------------


def test_require_2fa_stops_session_members_without_a_device(
    org, user, member_of, django_capture_on_commit_callbacks
):
    device = _with_totp(user)
    owner = client_for(user)
    _mfa_passed(owner, device)
    plain = member_of("member")
    plain_client = client_for(plain)
    assert plain_client.get(members_url(org)).status_code == 200  # caches "not required"
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.patch(policy_url(org), {"require_2fa": True}, format="json")
    assert response.status_code == 200, response.content
    # the cached state was dropped: the global check answers at once
    response = plain_client.get(members_url(org))
    assert response.status_code == 403 and response.json()["code"] == "mfa_enrolment_required"
    assert owner.get(members_url(org)).status_code == 200


def test_require_2fa_answers_org_2fa_required_to_api_keys_of_members_without_2fa(org, member_of):
    _policy(org, require_2fa=True)
    plain = member_of("member")
    issued = issue_key(plain, scopes=["orgs:read"])
    response = APIClient().get(members_url(org), **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "org_2fa_required"
    # with 2FA on the account the key works (keys skip the per-session second factor)
    _with_totp(plain)
    from apps.accounts.selectors import forget_security_state

    forget_security_state(plain.pk)
    assert APIClient().get(members_url(org), **bearer(issued.token)).status_code == 200


def test_agents_are_exempt_from_the_2fa_policy(org, user):
    _policy(org, require_2fa=True)
    agent = make_agent(organization=org)
    OrganizationMemberFactory(organization=org, user=agent, role="member")
    assert client_for(agent).get(members_url(org)).status_code == 200


def test_the_org_policy_does_not_reach_other_orgs_for_api_keys(org, user, network):
    _policy(org, require_2fa=True)
    other = OrganizationFactory(network=network, owner=user)
    issued = issue_key(user, scopes=["orgs:read"])
    assert APIClient().get(members_url(other), **bearer(issued.token)).status_code == 200
    assert APIClient().get(members_url(org), **bearer(issued.token)).status_code == 403


def test_turning_on_2fa_needs_the_owner_to_have_it(org, user):
    response = client_for(user).patch(policy_url(org), {"require_2fa": True}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "enrol_2fa_first"


# --- session_max_age_hours ---------------------------------------------------------------


def test_session_older_than_the_max_age_is_401_reauthentication_required(org, user):
    _policy(org, session_max_age_hours=8)
    client, key = logged_in_client(user)
    assert client.get(members_url(org)).status_code == 200
    UserSession.objects.filter(session_key=key).update(created_at=timezone.now() - timedelta(hours=9))
    response = client.get(members_url(org))
    assert response.status_code == 401 and response.json()["code"] == "reauthentication_required"
    # the org profile (network-visible) applies the policy to its members too
    assert client.get(org_url(org)).status_code == 401
    # other endpoints are not this org's: unaffected
    assert client.get("/api/v1/me/").status_code == 200


def test_a_recent_reauthentication_renews_the_session_age(org, user):
    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )

    _policy(org, session_max_age_hours=1)
    client, key = logged_in_client(user)
    UserSession.objects.filter(session_key=key).update(created_at=timezone.now() - timedelta(hours=5))
    assert client.get(members_url(org)).status_code == 401
    session = client.session
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [{"method": "password", "at": timezone.now().timestamp()}]
    session.save()
    assert client.get(members_url(org)).status_code == 200


def test_a_session_of_unknown_age_counts_as_too_old(org, user):
    _policy(org, session_max_age_hours=8)
    client = client_for(user)
    UserSession.objects.filter(user=user).delete()  # e.g. a session made before rows existed
    response = client.get(members_url(org))
    assert response.status_code == 401 and response.json()["code"] == "reauthentication_required"


def test_session_token_sessions_are_aged_by_their_row(org, user, rf):
    """The X-Session-Token path: ``request.auth`` is the session; its key finds the UserSession."""
    from rest_framework.request import Request

    from apps.organizations.permissions import ReauthenticationRequired, enforce_security_policy

    _policy(org, session_max_age_hours=2)
    session = SessionStore()
    session.create()
    UserSession.objects.create(
        user=user,
        session_key=session.session_key,
        kind="app",
        expires_at=timezone.now() + timedelta(days=1),
    )
    request = Request(rf.get("/"))
    request._request.session = SessionStore()  # a different (cookie) session is ignored
    request.user = user
    request.auth = session
    enforce_security_policy(request, org)
    UserSession.objects.filter(session_key=session.session_key).update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    with pytest.raises(ReauthenticationRequired):
        enforce_security_policy(request, org)


def test_api_keys_are_not_aged_like_sessions(org, user):
    _policy(org, session_max_age_hours=1)
    issued = issue_key(user, scopes=["orgs:read"])
    assert APIClient().get(members_url(org), **bearer(issued.token)).status_code == 200


# --- ip_allowlist --------------------------------------------------------------------------


def test_ip_outside_the_allowlist_is_403_ip_not_allowed(org, user, outsider):
    _policy(org, ip_allowlist=["10.0.0.0/8", "2001:db8::/32"])
    client = client_for(user)
    assert client.get(members_url(org), REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get(members_url(org), REMOTE_ADDR="2001:db8::1").status_code == 200
    response = client.get(members_url(org), REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 403 and response.json()["code"] == "ip_not_allowed"
    # keys are held to it too
    issued = issue_key(user, scopes=["orgs:read"])
    response = APIClient().get(members_url(org), REMOTE_ADDR="192.0.2.1", **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "ip_not_allowed"
    # a non-member reading the public profile is not subject to the member policy
    assert client_for(outsider).get(org_url(org), REMOTE_ADDR="192.0.2.1").status_code == 200


def test_allowlist_is_validated_normalised_and_cannot_lock_the_owner_out(org, user):
    client = client_for(user)
    response = client.patch(policy_url(org), {"ip_allowlist": ["10.0.0.0/33"]}, format="json")
    assert response.status_code == 400 and "ip_allowlist" in response.json()
    response = client.patch(policy_url(org), {"ip_allowlist": ["not-an-ip"]}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_cidr"
    response = client.patch(
        policy_url(org), {"ip_allowlist": ["192.0.2.0/24"]}, format="json", REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 400 and response.json()["code"] == "would_lock_out"
    response = client.patch(
        policy_url(org),
        {"ip_allowlist": ["10.1.2.3/8", "10.0.0.0/8", "::1"]},
        format="json",
        REMOTE_ADDR="10.0.0.1",
    )
    assert response.status_code == 200, response.content
    assert response.json()["ip_allowlist"] == ["10.0.0.0/8", "::1/128"]


# --- api_keys_allowed, allowed_email_domains, the rest ------------------------------------


def test_api_keys_off_refuses_keys_on_the_orgs_endpoints(org, user):
    _policy(org, api_keys_allowed=False)
    assert selectors.api_keys_allowed(org) is False
    issued = issue_key(user, scopes=["orgs:read"])
    response = APIClient().get(members_url(org), **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "api_keys_disabled"
    assert client_for(user).get(members_url(org)).status_code == 200


def test_a_key_limited_to_one_org_cannot_act_in_another(org, user, network):
    other = OrganizationFactory(network=network, owner=user)
    issued = issue_key(user, scopes=["orgs:read"], organization=org)
    assert APIClient().get(members_url(org), **bearer(issued.token)).status_code == 200
    response = APIClient().get(members_url(other), **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "api_key_wrong_organization"


@pytest.mark.parametrize(
    "body",
    [
        {"allowed_email_domains": ["not a domain"]},
        {"allowed_email_domains": "acme.example"},
        {"session_max_age_hours": 0},
        {"session_max_age_hours": 10**9},
        {"require_2fa": "maybe"},
        {"ip_allowlist": [""]},
    ],
)
def test_bad_policy_input_is_400(org, user, body):
    response = client_for(user).patch(policy_url(org), body, format="json")
    assert response.status_code == 400, response.content


def test_policy_changes_are_normalised_and_audited_with_the_diff(org, user):
    response = client_for(user).patch(
        policy_url(org),
        {"allowed_email_domains": ["@Acme.Example", "acme.example"], "session_max_age_hours": 12},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["allowed_email_domains"] == ["acme.example"]
    assert response.json()["updated_by"] == str(user.pk)
    assert actions(org)[-1] == "org.security_policy.updated"
    from apps.core.models import AuditEvent

    event = AuditEvent.objects.filter(organization=org).latest("id")
    assert event.data["changes"]["session_max_age_hours"] == [None, 12]


def test_policy_of_another_network_is_404_and_non_members_get_403(org, other_user, outsider):
    assert client_for(other_user).get(policy_url(org)).status_code == 404
    assert client_for(outsider).get(policy_url(org)).status_code == 403


def test_archived_orgs_no_longer_require_2fa(org, user, member_of, django_capture_on_commit_callbacks):
    _policy(org, require_2fa=True)
    plain = member_of("member")
    assert security_state(plain)["requires_2fa"] is True
    _with_totp(user)
    with django_capture_on_commit_callbacks(execute=True):
        services.archive_organization(actor=user, organization=org)
    assert security_state(plain)["requires_2fa"] is False


def test_security_state_is_refreshed_when_the_policy_flips(
    org, user, member_of, django_capture_on_commit_callbacks
):
    plain = member_of("viewer")
    assert security_state(plain)["requires_2fa"] is False
    _with_totp(user)
    with django_capture_on_commit_callbacks(execute=True):
        services.update_security_policy(actor=user, organization=org, require_2fa=True)
    assert security_state(plain)["requires_2fa"] is True
