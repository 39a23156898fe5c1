"""The organization audit log: one append-only row per change, readable by owners and admins."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.organizations import services
from apps.organizations.audit import AuditContext, record_org_event
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import bearer, issue_key

from .conftest import client_for
from .helpers import actions, audit_url

pytestmark = pytest.mark.django_db


def test_every_change_writes_an_event(org, user, network):
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    ann = UserFactory(network=network, email="ann@example.com")
    bob = UserFactory(network=network)
    services.update_organization(actor=user, organization=org, name="New name")
    services.update_settings(actor=user, organization=org, members_can_invite=True)
    services.update_security_policy(actor=user, organization=org, require_2fa=True)
    issued = services.invite_member(actor=user, organization=org, email="ann@example.com", role="admin")
    services.accept_invitation(user=ann, token=issued.token)
    invited = services.invite_member(actor=user, organization=org, email="carl@example.com").member
    services.remove_member(actor=user, member=invited)
    member = services.add_member(actor=user, organization=org, user=bob)
    services.change_member_role(actor=user, member=member, role="viewer")
    services.transfer_ownership(actor=user, organization=org, new_owner=ann)
    services.remove_member(actor=ann, member=member)
    services.leave_organization(actor=user, organization=org)
    services.archive_organization(actor=ann, organization=org)
    staff = UserFactory(network=network, is_staff=True)
    services.restore_organization(actor=staff, organization=org)
    assert actions(org) == [
        "org.updated",
        "org.settings.updated",
        "org.security_policy.updated",
        "org.member.invited",
        "org.invitation.accepted",
        "org.member.invited",
        "org.invitation.revoked",
        "org.member.added",
        "org.member.role_changed",
        "org.ownership_transferred",
        "org.member.removed",
        "org.member.left",
        "org.archived",
        "org.restored",
    ]
    assert set(AuditEvent.objects.filter(organization=org).values_list("network_id", flat=True)) == {
        network.pk
    }


def test_api_changes_record_the_ip_and_the_key(org, user):
    issued = issue_key(user, scopes=["orgs:write"])
    response = APIClient().patch(
        f"/api/v1/organizations/{org.pk}/",
        {"name": "Via key"},
        format="json",
        REMOTE_ADDR="203.0.113.9",
        **bearer(issued.token),
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.filter(organization=org, action="org.updated").get()
    assert event.ip == "203.0.113.9" and event.api_key_id == issued.api_key.pk and event.actor_id == user.pk
    assert event.data["changes"]["name"] == [org.name, "Via key"]


def test_record_org_event_is_the_helper_other_apps_use(org, user):
    event = record_org_event(
        organization=org,
        actor=user,
        action="project.created",
        target=user,
        data={"name": "p", "deploy_token": "super-secret-token-value"},
        via=AuditContext(ip="198.51.100.1"),
    )
    assert (event.organization_id, event.network_id, event.target_type) == (org.pk, org.network_id, "user")
    assert event.data["deploy_token"] != "super-secret-token-value"  # masked by core.audit
    assert event.ip == "198.51.100.1"


@pytest.mark.parametrize(
    ("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("billing", 403)]
)
def test_audit_log_is_for_owners_and_admins(org, member_of, role, status):
    response = client_for(member_of(role)).get(audit_url(org))
    assert response.status_code == status


def test_audit_list_is_cursor_paginated_constant_queries_and_filterable(
    org, user, member_of, other_user, django_assert_max_num_queries
):
    for n in range(6):
        services.update_organization(actor=user, organization=org, description=f"v{n}")
    for _ in range(3):
        member_of("member")  # factory rows: no events
    client = client_for(user)
    with django_assert_max_num_queries(8):
        response = client.get(audit_url(org), {"page_size": 4})
    body = response.json()
    assert len(body["results"]) == 4 and body["next"]
    first = body["results"][0]
    assert first["action"] == "org.updated" and first["actor"]["id"] == str(user.pk)
    assert first["data"]["changes"]["description"] == ["v4", "v5"]
    rest = client.get(body["next"]).json()
    assert len(rest["results"]) == 2
    services.update_settings(actor=user, organization=org, members_can_invite=True)
    filtered = client.get(audit_url(org), {"action": "org.settings"}).json()["results"]
    assert [e["action"] for e in filtered] == ["org.settings.updated"]
    assert client_for(other_user).get(audit_url(org)).status_code == 404


def test_events_of_other_orgs_are_not_listed(org, user, network):
    from .factories import OrganizationFactory

    other = OrganizationFactory(network=network, owner=user)
    services.update_organization(actor=user, organization=other, name="Other")
    assert client_for(user).get(audit_url(org)).json()["results"] == []
