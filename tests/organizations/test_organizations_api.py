"""Organizations REST: create, list, read, edit, archive, transfer ownership."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from apps.accounts.models import User
from apps.organizations import services
from apps.organizations.models import (
    Organization,
    OrganizationMember,
    OrganizationSecurityPolicy,
    OrganizationSettings,
)
from apps.organizations.signals import organization_archived
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import make_agent

from .conftest import client_for
from .factories import OrganizationFactory, OrganizationMemberFactory
from .helpers import LIST_URL, actions, org_url, transfer_url

pytestmark = pytest.mark.django_db


def test_create_makes_org_owner_settings_and_policy_together(user_client, user, network):
    response = user_client.post(
        LIST_URL,
        {"name": "Acme Labs", "description": "We build", "billing_email": "Billing@Acme.Example"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "acme-labs" and body["viewer_role"] == "owner" and body["member_count"] == 1
    assert body["billing_email"] == "billing@acme.example"
    org = Organization.objects.get(pk=body["id"])
    assert org.network_id == network.pk and org.created_by_id == user.pk
    member = OrganizationMember.objects.get(organization=org)
    assert (member.user_id, member.role, member.status) == (user.pk, "owner", "active")
    assert OrganizationSettings.objects.get(organization=org).network_id == network.pk
    assert OrganizationSecurityPolicy.objects.get(organization=org).network_id == network.pk
    assert actions(org) == ["org.created"]


def test_create_is_atomic_when_a_later_row_fails(user, monkeypatch):
    def boom(**kwargs):
        raise IntegrityError("policy insert failed")

    monkeypatch.setattr(OrganizationSecurityPolicy.objects, "create", boom)
    with pytest.raises(IntegrityError):
        services.create_organization(actor=user, name="Half")
    assert not Organization.objects.filter(name="Half").exists()
    assert not OrganizationMember.objects.filter(user=user).exists()


def test_slug_is_unique_per_network_and_generated_on_collision(user_client, user, other_network):
    OrganizationFactory(network=other_network, slug="acme")
    assert user_client.post(LIST_URL, {"name": "Acme"}, format="json").json()["slug"] == "acme"
    assert user_client.post(LIST_URL, {"name": "Acme"}, format="json").json()["slug"] == "acme-2"
    response = user_client.post(LIST_URL, {"name": "Other", "slug": "acme"}, format="json")
    assert response.status_code == 400 and response.json()["slug"] and response.json()["code"] == "slug_taken"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "ok", "slug": "not a slug"},
        {"name": "ok", "website_url": "javascript:alert(1)"},
        {"name": "ok", "billing_email": "nope"},
        ["a"],
    ],
)
def test_bad_input_is_400_with_field_messages(user_client, body):
    response = user_client.post(LIST_URL, body, format="json")
    assert response.status_code == 400, response.content


def test_agents_cannot_create_organizations(user):
    agent = make_agent(owner=user)
    response = client_for(agent).post(LIST_URL, {"name": "Bots"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "agents_cannot_own"


def test_list_is_mine_by_default_and_all_lists_the_networks_live_orgs(
    user_client, user, network, other_network, django_assert_max_num_queries
):
    mine = [OrganizationFactory(network=network, owner=user) for _ in range(3)]
    viewer_of = OrganizationFactory(network=network)
    OrganizationMemberFactory(organization=viewer_of, user=user, role="viewer")
    others = [OrganizationFactory(network=network) for _ in range(2)]
    archived = OrganizationFactory(network=network, owner=user)
    services.archive_organization(actor=user, organization=archived)
    OrganizationFactory(network=other_network)
    for org in [*mine, *others]:
        for _ in range(2):
            OrganizationMemberFactory(organization=org)

    with django_assert_max_num_queries(6):
        response = user_client.get(LIST_URL)
    assert response.status_code == 200
    rows = {r["id"]: r for r in response.json()["results"]}
    assert set(rows) == {str(o.pk) for o in [*mine, viewer_of]}
    assert rows[str(mine[0].pk)]["member_count"] == 3 and rows[str(mine[0].pk)]["viewer_role"] == "owner"
    assert rows[str(viewer_of.pk)]["viewer_role"] == "viewer"
    assert rows[str(viewer_of.pk)]["billing_email"] is None

    with django_assert_max_num_queries(6):
        response = user_client.get(LIST_URL, {"all": "true"})
    ids = {r["id"] for r in response.json()["results"]}
    assert ids == {str(o.pk) for o in [*mine, viewer_of, *others]}

    response = user_client.get(LIST_URL, {"archived": "true"})
    assert [r["id"] for r in response.json()["results"]] == [str(archived.pk)]


def test_list_is_cursor_paginated(user_client, user, network):
    for _ in range(4):
        OrganizationFactory(network=network, owner=user)
    page = user_client.get(LIST_URL, {"page_size": 3}).json()
    assert len(page["results"]) == 3 and page["next"]
    rest = user_client.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None


def test_non_member_reads_the_profile_but_org_of_another_network_is_404(org, outsider, other_user):
    response = client_for(outsider).get(org_url(org))
    assert response.status_code == 200 and response.json()["viewer_role"] is None
    assert response.json()["billing_email"] is None
    assert client_for(other_user).get(org_url(org)).status_code == 404


def test_archived_org_is_404_for_non_members_and_readable_by_members(org, user, outsider):
    services.archive_organization(actor=user, organization=org)
    assert client_for(outsider).get(org_url(org)).status_code == 404
    response = client_for(user).get(org_url(org))
    assert response.status_code == 200 and response.json()["archived_at"]


def test_malformed_id_is_404(user_client):
    assert user_client.get(f"{LIST_URL}not-a-uuid/").status_code == 404


def test_owner_and_admin_edit_the_profile_and_it_is_audited(org, user, member_of):
    admin = member_of("admin")
    response = client_for(admin).patch(
        org_url(org), {"name": "Renamed", "website_url": "https://x.example"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"
    org.refresh_from_db()
    assert org.name == "Renamed"
    assert actions(org)[-1] == "org.updated"
    client_for(user).patch(org_url(org), {"name": "Renamed"}, format="json")  # no change, no event
    assert actions(org).count("org.updated") == 1


def test_archive_is_owner_only_pauses_agents_and_fires_the_signal(org, user, member_of):
    admin = member_of("admin")
    agent = make_agent(organization=org)
    other_agent = make_agent(owner=user)
    received = []

    def receiver(sender, organization, actor, **kwargs):
        received.append((organization.pk, actor.pk, organization.archived_at is not None))

    organization_archived.connect(receiver)
    try:
        assert client_for(admin).delete(org_url(org)).status_code == 403
        response = client_for(user).delete(org_url(org))
        assert response.status_code == 204
    finally:
        organization_archived.disconnect(receiver)
    org.refresh_from_db()
    assert org.archived_at is not None
    assert received == [(org.pk, user.pk, True)]
    assert User.objects.get(pk=agent.pk).agent_status == "paused"
    assert User.objects.get(pk=other_agent.pk).agent_status == "active"
    assert actions(org)[-1] == "org.archived"
    # archiving twice is a state conflict; an archived org refuses edits
    assert client_for(user).delete(org_url(org)).status_code == 409
    response = client_for(user).patch(org_url(org), {"name": "x"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "organization_archived"


def test_transfer_ownership_makes_target_owner_and_demotes_the_actor(org, user, member_of):
    target = member_of("member")
    admin = member_of("admin")
    assert (
        client_for(admin).post(transfer_url(org), {"user": str(target.pk)}, format="json").status_code == 403
    )
    response = client_for(user).post(transfer_url(org), {"user": str(target.pk)}, format="json")
    assert response.status_code == 200, response.content
    roles_now = dict(OrganizationMember.objects.filter(organization=org).values_list("user_id", "role"))
    assert roles_now[target.pk] == "owner" and roles_now[user.pk] == "admin"
    assert actions(org)[-1] == "org.ownership_transferred"


def test_transfer_needs_an_active_human_member(org, user, outsider, other_user):
    client = client_for(user)
    response = client.post(transfer_url(org), {"user": str(outsider.pk)}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_a_member"
    response = client.post(transfer_url(org), {"user": str(other_user.pk)}, format="json")
    assert response.status_code == 400 and "user" in response.json()
    agent = make_agent(organization=org)
    OrganizationMemberFactory(organization=org, user=agent, role="member")
    response = client.post(transfer_url(org), {"user": str(agent.pk)}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "agent_role_not_allowed"
    response = client.post(transfer_url(org), {"user": str(user.pk)}, format="json")
    assert response.status_code == 400


def test_service_checks_the_role_without_the_api(org, member_of):
    from apps.core.exceptions import PermissionDenied

    viewer = member_of("viewer")
    with pytest.raises(PermissionDenied):
        services.update_organization(actor=viewer, organization=org, name="x")
    stranger = UserFactory(network=org.network)
    with pytest.raises(PermissionDenied):
        services.archive_organization(actor=stranger, organization=org)
