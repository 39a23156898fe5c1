"""A channel of an org-owned project or community is under the organization's security policy.

``Conversation.organization`` mirrors the parent's owner (set at creation, moved by a
project transfer); the shared base then refuses the org's channels, their messages
and members under a refusing policy, lists and the message search leave them out.
The route-by-route walk is in tests/test_cross_tenant_matrix.py (tests/chat/matrix.py).
"""

from __future__ import annotations

import pytest

from apps.chat import services
from apps.chat.models import Conversation
from apps.organizations.models import OrganizationSecurityPolicy
from tests.organizations.conftest import client_for
from tests.organizations.factories import OrganizationFactory
from tests.projects.factories import OrgProjectFactory, ProjectFactory
from tests.social.factories import CommunityFactory, CommunityMemberFactory

from .factories import group, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(network, user):
    return OrganizationFactory(network=network, owner=user)


def _allowlist(org, user, cidrs):
    from apps.accounts.selectors import forget_security_state

    OrganizationSecurityPolicy.objects.filter(organization=org).update(ip_allowlist=cidrs)
    forget_security_state(user.pk)


def test_a_channel_takes_its_parents_owning_organization(org, user):
    project_channel = services.create_channel(
        actor=user, project=OrgProjectFactory(owner_organization=org, network=org.network), title="p"
    )
    community = CommunityFactory(network=org.network, owner_user=None, owner_organization=org)
    CommunityMemberFactory(community=community, user=user, role="moderator")
    community_channel = services.create_community_channel(actor=user, community=community, title="c")
    mine = services.create_channel(actor=user, project=ProjectFactory(owner_user=user), title="m")
    assert project_channel.organization_id == org.pk
    assert community_channel.organization_id == org.pk
    assert mine.organization_id is None
    assert group(user).organization_id is None


def test_a_transferred_projects_channel_moves_under_the_new_owner(
    org, user, django_capture_on_commit_callbacks
):
    from apps.projects.services import transfer_project

    project = ProjectFactory(owner_user=user)
    channel = services.create_channel(actor=user, project=project, title="p")
    with django_capture_on_commit_callbacks(execute=True):
        transfer_project(actor=user, project=project, owner_organization=org)
    assert Conversation.objects.get(pk=channel.pk).organization_id == org.pk
    with django_capture_on_commit_callbacks(execute=True):
        transfer_project(actor=user, project=project, owner_user=user)
    assert Conversation.objects.get(pk=channel.pk).organization_id is None


def test_a_refusing_policy_hides_the_orgs_channels_and_their_messages_from_lists_and_search(org, user):
    channel = services.create_channel(
        actor=user, project=OrgProjectFactory(owner_organization=org, network=org.network), title="p"
    )
    org_message = send(user, channel, "quarterly roadmap")
    own = group(user)
    own_message = send(user, own, "roadmap for the picnic")
    client = client_for(user)
    _allowlist(org, user, ["10.0.0.0/8"])

    listed = [row["id"] for row in client.get("/api/v1/conversations/").json()["results"]]
    assert listed == [str(own.pk)]
    found = client.get("/api/v1/messages/search/", {"q": "roadmap"}).json()["results"]
    assert [row["id"] for row in found] == [str(own_message.pk)]
    response = client.get(f"/api/v1/conversations/{channel.pk}/messages/")
    assert response.status_code == 403 and response.json()["code"] == "ip_not_allowed"
    response = client.post(f"/api/v1/conversations/{channel.pk}/messages/", {"body": "x"}, format="json")
    assert response.status_code == 403
    assert Conversation.objects.get(pk=channel.pk).last_message_seq == 1

    # from inside the allowlist the channel is back
    inside = {"REMOTE_ADDR": "10.1.2.3"}
    listed = [row["id"] for row in client.get("/api/v1/conversations/", **inside).json()["results"]]
    assert str(channel.pk) in listed
    found = client.get("/api/v1/messages/search/", {"q": "roadmap"}, **inside).json()["results"]
    assert {row["id"] for row in found} == {str(own_message.pk), str(org_message.pk)}
