"""Members: add by id, roles, removal, leaving — and the invariants (last owner, owner grants, agents)."""

from __future__ import annotations

import pytest

from apps.accounts.selectors import security_state
from apps.organizations import services
from apps.organizations.models import OrganizationMember
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import make_agent

from .conftest import client_for
from .factories import OrganizationMemberFactory
from .helpers import actions, member_url, members_url

pytestmark = pytest.mark.django_db


def _membership(org, person) -> OrganizationMember:
    return OrganizationMember.objects.get(organization=org, user=person)


def test_admin_adds_a_network_user_by_id(org, member_of, outsider):
    admin = member_of("admin")
    response = client_for(admin).post(
        members_url(org), {"user": str(outsider.pk), "role": "viewer"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "active" and body["role"] == "viewer" and body["user"]["id"] == str(outsider.pk)
    assert _membership(org, outsider).network_id == org.network_id
    assert actions(org)[-1] == "org.member.added"


def test_adding_twice_is_409_and_other_networks_user_is_400(org, user, outsider, other_user):
    client = client_for(user)
    assert client.post(members_url(org), {"user": str(outsider.pk)}, format="json").status_code == 201
    response = client.post(members_url(org), {"user": str(outsider.pk)}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "already_member"
    response = client.post(members_url(org), {"user": str(other_user.pk)}, format="json")
    assert response.status_code == 400 and "user" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user": "nope"},
        {"email": "not-an-email"},
        {"user": None, "email": None},
        {"email": "a@b.co", "role": "god"},
    ],
)
def test_bad_member_input_is_400(org, user, outsider, body):
    response = client_for(user).post(members_url(org), body, format="json")
    assert response.status_code == 400, response.content


def test_user_and_email_together_is_400(org, user, outsider):
    response = client_for(user).post(
        members_url(org), {"user": str(outsider.pk), "email": "a@b.co"}, format="json"
    )
    assert response.status_code == 400


def test_only_owners_grant_owner(org, user, member_of, outsider):
    admin = member_of("admin")
    response = client_for(admin).post(
        members_url(org), {"user": str(outsider.pk), "role": "owner"}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "only_owners_grant_owner"
    target = member_of("member")
    response = client_for(admin).patch(member_url(_membership(org, target)), {"role": "owner"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "only_owners_grant_owner"
    response = client_for(user).patch(member_url(_membership(org, target)), {"role": "owner"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "owner"


def test_admin_cannot_demote_or_remove_an_owner(org, user, member_of):
    admin = member_of("admin")
    owner_row = _membership(org, user)
    response = client_for(admin).patch(member_url(owner_row), {"role": "member"}, format="json")
    assert response.status_code == 403
    response = client_for(admin).delete(member_url(owner_row))
    assert response.status_code == 403
    assert _membership(org, user).role == "owner"


def test_admin_changes_non_owner_roles_and_it_is_audited(org, member_of):
    admin = member_of("admin")
    target = member_of("viewer")
    response = client_for(admin).patch(
        member_url(_membership(org, target)), {"role": "billing"}, format="json"
    )
    assert response.status_code == 200
    assert _membership(org, target).role == "billing"
    assert actions(org)[-1] == "org.member.role_changed"


@pytest.mark.parametrize("role", ["owner", "admin", "billing"])
def test_agents_only_member_or_viewer(org, user, role):
    agent = make_agent(organization=org)
    client = client_for(user)
    response = client.post(members_url(org), {"user": str(agent.pk), "role": role}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "agent_role_not_allowed"
    response = client.post(members_url(org), {"user": str(agent.pk), "role": "viewer"}, format="json")
    assert response.status_code == 201
    response = client.patch(member_url(_membership(org, agent)), {"role": role}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "agent_role_not_allowed"
    response = client.patch(member_url(_membership(org, agent)), {"role": "member"}, format="json")
    assert response.status_code == 200


def test_only_own_or_org_agents_can_be_added(org, user, outsider):
    someone_elses = make_agent(owner=outsider)
    mine = make_agent(owner=user)
    client = client_for(user)
    response = client.post(members_url(org), {"user": str(someone_elses.pk)}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "agent_not_yours"
    assert client.post(members_url(org), {"user": str(mine.pk)}, format="json").status_code == 201


def test_last_owner_cannot_be_demoted_removed_or_leave(org, user, member_of):
    owner_row = _membership(org, user)
    client = client_for(user)
    response = client.patch(member_url(owner_row), {"role": "admin"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "last_owner"
    response = client.delete(member_url(owner_row))  # own row = leave
    assert response.status_code == 409 and response.json()["code"] == "last_owner"
    # with a second owner both work
    second = member_of("owner")
    assert client.patch(member_url(owner_row), {"role": "admin"}, format="json").status_code == 200
    response = client_for(second).patch(member_url(owner_row), {"role": "owner"}, format="json")
    assert response.status_code == 200
    assert client.delete(member_url(owner_row)).status_code == 204
    assert not OrganizationMember.objects.filter(organization=org, user=user).exists()
    assert actions(org)[-1] == "org.member.left"
    assert OrganizationMember.objects.filter(organization=org, role="owner").count() == 1


def test_staff_in_the_admin_also_keep_one_owner(org, user):
    from apps.core.exceptions import Conflict

    staff = UserFactory(network=org.network, is_staff=True)
    with pytest.raises(Conflict):
        services.change_member_role(actor=staff, member=_membership(org, user), role="admin", as_staff=True)
    with pytest.raises(Conflict):
        services.remove_member(actor=staff, member=_membership(org, user), as_staff=True)


def test_admin_removes_a_member_and_anyone_leaves(org, member_of):
    admin = member_of("admin")
    gone = member_of("member")
    leaver = member_of("viewer")
    viewer = member_of("viewer")
    assert client_for(viewer).delete(member_url(_membership(org, gone))).status_code == 403
    assert client_for(admin).delete(member_url(_membership(org, gone))).status_code == 204
    assert client_for(leaver).delete(member_url(_membership(org, leaver))).status_code == 204
    assert actions(org)[-2:] == ["org.member.removed", "org.member.left"]


def test_membership_rows_of_orgs_i_am_not_in_are_404(org, outsider, other_user, member_of):
    row = _membership(org, member_of("member"))
    assert client_for(outsider).patch(member_url(row), {"role": "viewer"}, format="json").status_code == 404
    assert client_for(other_user).delete(member_url(row)).status_code == 404


def test_members_list_is_constant_queries_and_hides_invitations_from_non_inviters(
    org, user, member_of, django_assert_max_num_queries
):
    viewer = member_of("viewer")
    for _ in range(4):
        member_of("member")
    for n in range(3):
        services.invite_member(actor=user, organization=org, email=f"guest{n}@example.com")
    owner_client = client_for(user)
    with django_assert_max_num_queries(8):
        response = owner_client.get(members_url(org))
    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses.count("active") == 6 and statuses.count("invited") == 3
    invited = owner_client.get(members_url(org), {"status": "invited"}).json()["results"]
    assert {r["invite_email"] for r in invited} == {f"guest{n}@example.com" for n in range(3)}
    viewer_client = client_for(viewer)
    with django_assert_max_num_queries(8):
        response = viewer_client.get(members_url(org))
    assert {r["status"] for r in response.json()["results"]} == {"active"}
    assert client_for(viewer).get(members_url(org), {"status": "invited"}).json()["results"] == []
    only_viewers = owner_client.get(members_url(org), {"role": "viewer"}).json()["results"]
    assert [r["user"]["id"] for r in only_viewers] == [str(viewer.pk)]


def test_non_member_cannot_list_members_but_other_network_gets_404(org, outsider, other_user):
    response = client_for(outsider).get(members_url(org))
    assert response.status_code == 403 and response.json()["code"] == "not_org_member"
    assert client_for(other_user).get(members_url(org)).status_code == 404
    response = client_for(other_user).post(members_url(org), {"email": "x@example.com"}, format="json")
    assert response.status_code == 404


def test_membership_changes_refresh_the_cached_2fa_requirement(
    org, user, outsider, django_capture_on_commit_callbacks
):
    org.security_policy.require_2fa = True
    org.security_policy.save()
    assert security_state(outsider)["requires_2fa"] is False  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        services.add_member(actor=user, organization=org, user=outsider, as_staff=False)
    assert security_state(outsider)["requires_2fa"] is True
    with django_capture_on_commit_callbacks(execute=True):
        services.leave_organization(actor=outsider, organization=org)
    assert security_state(outsider)["requires_2fa"] is False


def test_any_write_of_a_member_row_refreshes_the_cached_2fa_requirement(
    org, outsider, django_capture_on_commit_callbacks
):
    # not only the services: the admin, a fixture or a factory writing the row directly
    org.security_policy.require_2fa = True
    org.security_policy.save()
    assert security_state(outsider)["requires_2fa"] is False  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        row = OrganizationMemberFactory(organization=org, user=outsider, role="viewer")
    assert security_state(outsider)["requires_2fa"] is True
    with django_capture_on_commit_callbacks(execute=True):
        row.delete()
    assert security_state(outsider)["requires_2fa"] is False


def test_domain_policy_applies_when_adding_by_id(org, user, network):
    org.security_policy.allowed_email_domains = ["acme.example"]
    org.security_policy.save()
    inside = UserFactory(network=network, email="ann@acme.example")
    outside = UserFactory(network=network, email="bob@elsewhere.example")
    client = client_for(user)
    assert client.post(members_url(org), {"user": str(inside.pk)}, format="json").status_code == 201
    response = client.post(members_url(org), {"user": str(outside.pk)}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "email_domain_not_allowed"


def test_members_of_an_archived_org_can_still_leave(org, user, member_of):
    leaver = member_of("member")
    services.archive_organization(actor=user, organization=org)
    assert client_for(leaver).delete(member_url(_membership(org, leaver))).status_code == 204
    response = client_for(user).post(members_url(org), {"email": "late@example.com"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "organization_archived"


def test_invited_rows_are_revoked_with_invite_permission(org, user, member_of):
    issued = services.invite_member(actor=user, organization=org, email="guest@example.com")
    viewer = member_of("viewer")
    # a viewer does not see invitation rows at all (one visibility rule): 404, as for a stranger
    assert client_for(viewer).delete(member_url(issued.member)).status_code == 404
    assert client_for(user).delete(member_url(issued.member)).status_code == 204
    assert actions(org)[-1] == "org.invitation.revoked"
    assert not OrganizationMember.objects.filter(pk=issued.member.pk).exists()


def test_factory_members_follow_the_org_network(org):
    member = OrganizationMemberFactory(organization=org)
    assert member.network_id == org.network_id == member.user.network_id


def test_a_pending_invitation_is_visible_by_id_exactly_where_the_list_shows_it(org, user, member_of):
    """Issue 7 §10: a viewer read a pending invitation (and its email) by id though the list hid it."""
    issued = services.invite_member(actor=user, organization=org, email="secret-guest@example.com")
    viewer = member_of("viewer")
    plain_member = member_of("member")
    for person, sees in ((user, True), (viewer, False), (plain_member, False)):
        client = client_for(person)
        listed = {r["id"] for r in client.get(members_url(org)).json()["results"]}
        detail = client.get(member_url(issued.member))
        assert (str(issued.member.pk) in listed) is sees
        assert detail.status_code == (200 if sees else 404), (person, detail.content)
        assert (b"secret-guest@example.com" in detail.content) is sees
        assert client.patch(member_url(issued.member), {"role": "viewer"}, format="json").status_code in (
            (200, 400, 409) if sees else (404,)
        )
    # a member may invite when the organization allows it: then they see invitations, list and detail
    org.settings.members_can_invite = True
    org.settings.save()
    client = client_for(plain_member)
    assert str(issued.member.pk) in {r["id"] for r in client.get(members_url(org)).json()["results"]}
    assert client.get(member_url(issued.member)).status_code == 200
    # active rows stay visible to every member
    assert client_for(viewer).get(member_url(_membership(org, plain_member))).status_code == 200
