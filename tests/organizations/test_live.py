"""End to end over real servers: uvicorn + httpx with browser session cookies, and a real Celery worker."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from apps.accounts.models import UserSession
from apps.accounts.selectors import forget_security_state
from apps.organizations import services, tasks
from apps.organizations.models import Organization, OrganizationMember
from tests.accounts.factories import PASSWORD, UserFactory

from .helpers import ACCEPT_URL, actions, invitation_token

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
BROWSER = "/_allauth/browser/v1"


def _sign_in(http: httpx.Client, user) -> dict[str, str]:
    """Log in through allauth's browser API; returns the CSRF header for unsafe requests."""
    http.get(f"{BROWSER}/config")
    csrf = {"X-CSRFToken": http.cookies["csrftoken"]}
    response = http.post(
        f"{BROWSER}/auth/login", headers=csrf, json={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert "sessionid" in http.cookies
    return {"X-CSRFToken": http.cookies["csrftoken"]}


def _age_session(key: str, *, hours: int) -> None:
    """Make a browser session look ``hours`` old: its row and allauth's login record in it."""
    from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
    from django.conf import settings
    from django.utils.module_loading import import_string

    then = timezone.now() - timedelta(hours=hours)
    UserSession.objects.filter(session_key=key).update(created_at=then)
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key=key)
    records = store[AUTHENTICATION_METHODS_SESSION_KEY]
    store[AUTHENTICATION_METHODS_SESSION_KEY] = [{**r, "at": then.timestamp()} for r in records]
    store.save()


def test_create_invite_accept_and_policy_over_http(live_asgi, network):
    owner = UserFactory(network=network, email="owner@acme.example")
    guest = UserFactory(network=network, email="guest@acme.example")
    with (
        httpx.Client(base_url=live_asgi.url, timeout=10) as a,
        httpx.Client(base_url=live_asgi.url, timeout=10) as b,
    ):
        csrf = _sign_in(a, owner)
        response = a.post("/api/v1/organizations/", headers=csrf, json={"name": "Acme"})
        assert response.status_code == 201, response.text
        org_id = response.json()["id"]
        members = f"/api/v1/organizations/{org_id}/members/"

        response = a.patch(
            f"/api/v1/organizations/{org_id}/security-policy/",
            headers=csrf,
            json={"allowed_email_domains": ["acme.example"], "session_max_age_hours": 4},
        )
        assert response.status_code == 200, response.text
        response = a.post(members, headers=csrf, json={"email": "guest@acme.example", "role": "viewer"})
        assert response.status_code == 201, response.text
        token = invitation_token()  # mailed after commit by the server thread

        guest_csrf = _sign_in(b, guest)
        assert b.get(members).status_code == 403  # visible org, not a member yet
        response = b.post(ACCEPT_URL, headers=guest_csrf, json={"token": token})
        assert response.status_code == 200, response.text
        assert response.json()["membership"]["role"] == "viewer"
        listed = b.get(members).json()["results"]
        assert {m["user"]["id"] for m in listed} == {str(owner.pk), str(guest.pk)}

        # session age policy: an old session must reauthenticate; reauthenticating renews it
        _age_session(b.cookies["sessionid"], hours=5)
        response = b.get(members)
        assert response.status_code == 401 and response.json()["code"] == "reauthentication_required"
        response = b.post(f"{BROWSER}/auth/reauthenticate", headers=guest_csrf, json={"password": PASSWORD})
        assert response.status_code == 200, response.text
        assert b.get(members).status_code == 200

        # IP allowlist: the test client calls from 127.0.0.1
        org = Organization.objects.get(pk=org_id)
        type(org.security_policy).objects.filter(organization=org).update(ip_allowlist=["10.0.0.0/8"])
        forget_security_state(guest.pk)  # a raw update skips the service's cache drop
        response = b.get(members)
        assert response.status_code == 403 and response.json()["code"] == "ip_not_allowed"

        # the viewer leaves; the last owner cannot
        type(org.security_policy).objects.filter(organization=org).update(ip_allowlist=[])
        forget_security_state(guest.pk)
        mine = OrganizationMember.objects.get(organization=org, user=guest)
        assert b.delete(f"/api/v1/organization-members/{mine.pk}/", headers=guest_csrf).status_code == 204
        owner_row = OrganizationMember.objects.get(organization=org, user=owner)
        response = a.delete(f"/api/v1/organization-members/{owner_row.pk}/", headers=csrf)
        assert response.status_code == 409 and response.json()["code"] == "last_owner"

    assert actions(org) == [
        "org.created",
        "org.security_policy.updated",
        "org.member.invited",
        "org.invitation.accepted",
        "org.member.left",
    ]


def test_expiry_job_runs_on_a_real_worker(celery_worker_process, network):
    owner = UserFactory(network=network)
    org = services.create_organization(actor=owner, name="Acme")
    expired = services.invite_member(actor=owner, organization=org, email="late@example.com").member
    fresh = services.invite_member(actor=owner, organization=org, email="soon@example.com").member
    OrganizationMember.objects.filter(pk=expired.pk).update(
        invite_expires_at=timezone.now() - timedelta(hours=1)
    )
    assert tasks.expire_invitations.delay().get(timeout=30) == 1
    assert tasks.expire_invitations.delay().get(timeout=30) == 0
    assert list(OrganizationMember.objects.filter(status="invited").values_list("pk", flat=True)) == [
        fresh.pk
    ]
    assert actions(org).count("org.invitation.expired") == 1
