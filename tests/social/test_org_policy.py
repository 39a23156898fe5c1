"""Org-owned communities: org RBAC decides, the org's security policy applies to its rows."""

from __future__ import annotations

import pytest

from apps.organizations.models import OrganizationSecurityPolicy
from apps.social.models import PostTag
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

from .factories import CommunityFactory, PostFactory, TagFactory

pytestmark = pytest.mark.django_db


def _refuse(org, user) -> None:
    from apps.accounts.selectors import forget_security_state

    OrganizationSecurityPolicy.objects.filter(organization=org).update(ip_allowlist=["10.0.0.0/8"])
    forget_security_state(user.pk)


def test_tag_feed_leaves_out_posts_of_an_org_whose_policy_refuses(user_client, user, network):
    org = OrganizationFactory(network=network, owner=user)
    community = CommunityFactory(network=network, owner_user=None, owner_organization=org)
    tag = TagFactory(network=network)
    inside = PostFactory(author=user, community=community)
    outside = PostFactory(author=user)
    for post in (inside, outside):
        PostTag.objects.create(network=network, post=post, tag=tag)
    ids = lambda: [p["id"] for p in user_client.get(f"/api/v1/tags/{tag.slug}/posts/").json()["results"]]  # noqa: E731
    assert set(ids()) == {str(inside.pk), str(outside.pk)}
    _refuse(org, user)
    assert ids() == [str(outside.pk)]


def test_org_community_is_created_only_by_roles_the_matrix_allows(user_client, user, network):
    org = OrganizationFactory(network=network)
    member = OrganizationMemberFactory(organization=org, user=user, role="viewer")
    body = {"slug": "org-space", "name": "Org space", "owner_organization": str(org.pk)}
    response = user_client.post("/api/v1/communities/", body, format="json")
    assert response.status_code == 403 and response.json()["code"] == "org_permission_denied"
    member.role = "admin"
    member.save()
    response = user_client.post("/api/v1/communities/", body, format="json")
    assert response.status_code == 201
    assert response.json()["owner_organization"]["id"] == str(org.pk)


def test_org_admins_act_as_owner_and_others_do_not(user_client, user, network, make_client):
    from tests.accounts.factories import UserFactory

    org = OrganizationFactory(network=network)
    OrganizationMemberFactory(organization=org, user=user, role="admin")
    community = CommunityFactory(network=network, owner_user=None, owner_organization=org)
    response = user_client.patch(f"/api/v1/communities/{community.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed"
    plain = UserFactory(network=network)
    OrganizationMemberFactory(organization=org, user=plain, role="member")
    response = make_client(plain).patch(
        f"/api/v1/communities/{community.pk}/", {"name": "Nope"}, format="json"
    )
    assert response.status_code == 403
