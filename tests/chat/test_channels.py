"""Channels: membership follows project access or community membership, live."""

from __future__ import annotations

import pytest

from apps.chat import services
from apps.chat.models import ConversationMember
from apps.core.exceptions import InvalidState, NotFound, PermissionDenied
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory
from tests.projects.factories import OrgProjectFactory, ProjectFactory
from tests.social.factories import CommunityFactory, CommunityMemberFactory

pytestmark = pytest.mark.django_db


def active(conversation) -> dict:
    return dict(
        ConversationMember.objects.filter(conversation=conversation, left_at__isnull=True).values_list(
            "user__handle", "role"
        )
    )


def test_a_project_channel_follows_the_owning_organizations_members(user, django_capture_on_commit_callbacks):
    org = OrganizationFactory(network=user.network, owner=user)
    viewer = OrganizationMemberFactory(organization=org, role="viewer").user
    project = OrgProjectFactory(owner_organization=org)
    outsider = UserFactory(network=user.network)
    channel = services.create_channel(actor=user, project=project, title="dev")
    assert active(channel) == {user.handle: "admin", viewer.handle: "member"}
    assert channel.member_count == 2
    with django_capture_on_commit_callbacks(execute=True):
        joined = OrganizationMemberFactory(organization=org, user=outsider, role="admin")
    assert active(channel)[outsider.handle] == "admin"
    with django_capture_on_commit_callbacks(execute=True):
        joined.delete()
    assert outsider.handle not in active(channel)
    with pytest.raises(NotFound):
        services.send_message(actor=outsider, conversation=channel, body="hi")


def test_a_user_owned_projects_channel_is_its_owner_and_needs_maintain(user):
    project = ProjectFactory(owner_user=user, visibility="network")
    channel = services.create_channel(actor=user, project=project, title="")
    assert active(channel) == {user.handle: "owner"} and channel.title == project.name
    with pytest.raises(PermissionDenied):  # network visibility gives view, not maintain
        services.create_channel(actor=UserFactory(network=user.network), project=project, title="x")


def test_a_community_channel_follows_its_active_members(user, django_capture_on_commit_callbacks):
    community = CommunityFactory(network=user.network, owner_user=user)
    CommunityMemberFactory(community=community, user=user, role="owner")
    regular = CommunityMemberFactory(community=community, role="member")
    pending = CommunityMemberFactory(community=community, status="pending")
    with pytest.raises(PermissionDenied):
        services.create_community_channel(actor=regular.user, community=community, title="x")
    channel = services.create_community_channel(actor=user, community=community, title="general")
    assert active(channel) == {user.handle: "admin", regular.user.handle: "member"}
    with django_capture_on_commit_callbacks(execute=True):
        pending.status = "active"
        pending.save()
    assert pending.user.handle in active(channel)
    with django_capture_on_commit_callbacks(execute=True):
        regular.status = "banned"
        regular.save()
    assert regular.user.handle not in active(channel)


def test_channel_members_are_not_managed_by_hand(user):
    project = ProjectFactory(owner_user=user)
    channel = services.create_channel(actor=user, project=project, title="c")
    with pytest.raises(InvalidState):
        services.add_members(actor=user, conversation=channel, users=[UserFactory(network=user.network)])
    with pytest.raises(InvalidState):
        services.remove_member(actor=user, member=channel.members.get(user=user))


def test_rest_creates_project_and_community_channels(user, user_client):
    project = ProjectFactory(owner_user=user)
    response = user_client.post(
        "/api/v1/conversations/", {"kind": "channel", "project": str(project.pk), "title": "p"}, format="json"
    )
    assert response.status_code == 201 and response.json()["project_id"] == str(project.pk)
    community = CommunityFactory(network=user.network, owner_user=user)
    CommunityMemberFactory(community=community, user=user, role="owner")
    response = user_client.post(
        "/api/v1/conversations/", {"kind": "channel", "community": str(community.pk)}, format="json"
    )
    assert response.status_code == 201 and response.json()["community_id"] == str(community.pk)
    both = {"kind": "channel", "community": str(community.pk), "project": str(project.pk)}
    assert user_client.post("/api/v1/conversations/", both, format="json").status_code == 400
