"""The §21 role matrix, table-driven: every role × every permission, and the member setting toggles."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from apps.organizations import roles
from tests.accounts.factories import UserFactory

from .factories import OrganizationFactory, OrganizationMemberFactory
from .helpers import audit_url, members_url, org_url, policy_url, settings_url

Y, S, N = "yes", "setting", "no"
ROLES = ("owner", "admin", "member", "viewer", "billing")

# SCHEMA.md §21, row by row (columns: owner admin member viewer billing)
TABLE: dict[str, tuple[str, ...]] = {
    "org.view": (Y, Y, Y, Y, Y),
    "org.edit": (Y, Y, N, N, N),
    "org.audit_log": (Y, Y, N, N, N),
    "org.security_policy": (Y, N, N, N, N),
    "org.archive": (Y, N, N, N, N),
    "org.transfer_ownership": (Y, N, N, N, N),
    "org.members.invite": (Y, Y, S, N, N),
    "org.members.change_role": (Y, Y, N, N, N),
    "org.projects.create": (Y, Y, S, N, N),
    "org.communities.create": (Y, Y, S, N, N),
    "org.infra.manage": (Y, Y, N, N, N),
    "org.dispatcher.manage": (Y, Y, N, N, N),
    "org.tasks.work": (Y, Y, Y, N, N),
    "org.sandboxes.run": (Y, Y, Y, N, N),
    "org.agents.manage": (Y, Y, S, N, N),
    "org.tools.approve": (Y, Y, N, N, N),
    "org.post_as_org": (Y, Y, N, N, N),
    "org.billing": (Y, N, N, N, Y),
    "org.funds": (Y, Y, N, N, Y),
}

CASES = [(perm, role, TABLE[perm][i]) for perm in TABLE for i, role in enumerate(ROLES)]
ALL_OFF = SimpleNamespace(
    members_can_invite=False,
    members_can_create_projects=False,
    members_can_create_agents=False,
)
ALL_ON = SimpleNamespace(
    members_can_invite=True,
    members_can_create_projects=True,
    members_can_create_agents=True,
)


def test_the_table_covers_every_permission_of_the_matrix():
    assert set(TABLE) <= set(roles.MATRIX)


@pytest.mark.parametrize(("permission", "role", "expected"), CASES)
def test_role_matrix_with_member_settings_off(permission, role, expected):
    assert roles.role_allows(role, permission, ALL_OFF) is (expected == Y)


@pytest.mark.parametrize(("permission", "role", "expected"), CASES)
def test_role_matrix_with_member_settings_on(permission, role, expected):
    assert roles.role_allows(role, permission, ALL_ON) is (expected in (Y, S))


@pytest.mark.parametrize(
    ("flag", "permissions"),
    [
        ("members_can_invite", ["org.members.invite"]),
        ("members_can_create_projects", ["org.projects.create", "org.communities.create"]),
        ("members_can_create_agents", ["org.agents.manage"]),
    ],
)
def test_each_member_setting_grants_only_its_own_permissions(flag, permissions):
    one_on = SimpleNamespace(**{**vars(ALL_OFF), flag: True})
    granted = {p for p in roles.MATRIX if roles.role_allows("member", p, one_on)}
    baseline = {p for p in roles.MATRIX if roles.role_allows("member", p, ALL_OFF)}
    assert granted - baseline == set(permissions)


def test_no_role_and_unknown_permission():
    assert roles.role_allows(None, "org.view") is False
    with pytest.raises(KeyError):
        roles.role_allows("owner", "org.launch_missiles")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_has_org_permission_reads_the_role_and_the_settings_row(role, network):
    org = OrganizationFactory(network=network, settings__members_can_create_projects=False)
    person = UserFactory(network=network)
    OrganizationMemberFactory(organization=org, user=person, role=role)
    for permission, row in TABLE.items():
        expected = row[ROLES.index(role)] == Y
        assert roles.has_org_permission(person, org, permission) is expected, permission
    org.settings.members_can_create_projects = True
    org.settings.save()
    org.refresh_from_db()
    assert roles.has_org_permission(person, org, "org.projects.create") is (
        role in ("owner", "admin", "member")
    )


@pytest.mark.django_db
def test_invited_or_foreign_users_have_no_role(network, other_network):
    org = OrganizationFactory(network=network)
    OrganizationMemberFactory(organization=org, user=None, status="invited", invite_email="x@example.com")
    stranger = UserFactory(network=other_network)
    assert roles.member_role(stranger, org) is None
    assert not roles.has_org_permission(stranger, org, "org.view")


@pytest.mark.parametrize(
    ("actor", "settings_on", "grantable"),
    [
        ("owner", False, set(ROLES)),
        ("admin", False, {"admin", "member", "viewer", "billing"}),
        ("member", False, set()),
        ("member", True, {"member", "viewer"}),
        ("viewer", True, set()),
        ("billing", True, set()),
        (None, True, set()),
    ],
)
def test_only_owners_grant_owner_and_members_invite_only_as_member_or_viewer(actor, settings_on, grantable):
    assert roles.grantable_roles(actor, ALL_ON if settings_on else ALL_OFF) == grantable


# The same matrix through the API: one permission layer for every org endpoint.
API_CASES = [
    # (method, url builder, body, permission)
    ("get", org_url, None, "org.view"),
    ("get", members_url, None, "org.view"),
    ("get", settings_url, None, "org.view"),
    ("patch", org_url, {"description": "new"}, "org.edit"),
    ("patch", settings_url, {"members_can_invite": False}, "org.edit"),
    ("get", audit_url, None, "org.audit_log"),
    ("get", policy_url, None, "org.security_policy.view"),
    ("patch", policy_url, {"require_tool_approval": True}, "org.security_policy"),
]
API_EXPECTED = {
    "org.view": set(ROLES),
    "org.edit": {"owner", "admin"},
    "org.audit_log": {"owner", "admin"},
    "org.security_policy.view": {"owner", "admin"},
    "org.security_policy": {"owner"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "url", "body", "permission"), API_CASES, ids=[f"{c[0]}-{c[3]}" for c in API_CASES]
)
def test_endpoints_follow_the_matrix(role, method, url, body, permission, org, member_of):
    from .conftest import client_for

    client = client_for(member_of(role))
    response = getattr(client, method)(url(org), body, format="json")
    if role in API_EXPECTED[permission]:
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "org_permission_denied"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403)]
)
def test_inviting_follows_the_matrix_and_the_member_setting(role, expected, org, member_of):
    from .conftest import client_for

    client = client_for(member_of(role))
    response = client.post(members_url(org), {"email": f"{role}-guest@example.com"}, format="json")
    assert response.status_code == expected, response.content
    if role == "member":
        org.settings.members_can_invite = True
        org.settings.save()
        response = client.post(members_url(org), {"email": "guest2@example.com"}, format="json")
        assert response.status_code == 201, response.content
        response = client.post(
            members_url(org), {"email": "guest3@example.com", "role": "admin"}, format="json"
        )
        assert response.status_code == 403 and response.json()["code"] == "role_not_grantable"
