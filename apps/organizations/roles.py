"""The organization role matrix (SCHEMA.md §21) — the one place it is written.

Every org-owned endpoint, service and admin action asks ``has_org_permission``.
"Setting" permissions are granted to members when OrganizationSettings allows.
"""

from __future__ import annotations

from typing import Any

OWNER, ADMIN, MEMBER, VIEWER, BILLING = "owner", "admin", "member", "viewer", "billing"
ALL_ROLES = (OWNER, ADMIN, MEMBER, VIEWER, BILLING)

# permission → roles that always have it
MATRIX: dict[str, frozenset[str]] = {
    "org.view": frozenset(ALL_ROLES),
    "org.edit": frozenset({OWNER, ADMIN}),
    "org.audit_log": frozenset({OWNER, ADMIN}),
    "org.security_policy": frozenset({OWNER}),
    "org.archive": frozenset({OWNER}),
    "org.transfer_ownership": frozenset({OWNER}),
    "org.members.invite": frozenset({OWNER, ADMIN}),
    "org.members.change_role": frozenset({OWNER, ADMIN}),
    "org.members.remove": frozenset({OWNER, ADMIN}),
    "org.security_policy.view": frozenset({OWNER, ADMIN}),
    "org.projects.create": frozenset({OWNER, ADMIN}),
    "org.communities.create": frozenset({OWNER, ADMIN}),
    "org.infra.manage": frozenset({OWNER, ADMIN}),
    "org.dispatcher.manage": frozenset({OWNER, ADMIN}),
    "org.tasks.work": frozenset({OWNER, ADMIN, MEMBER}),
    "org.sandboxes.run": frozenset({OWNER, ADMIN, MEMBER}),
    "org.agents.manage": frozenset({OWNER, ADMIN}),
    "org.tools.approve": frozenset({OWNER, ADMIN}),
    "org.post_as_org": frozenset({OWNER, ADMIN}),
    "org.billing": frozenset({OWNER, BILLING}),
    "org.funds": frozenset({OWNER, ADMIN, BILLING}),
}

# permission → OrganizationSettings flag that extends it to members
MEMBER_SETTING: dict[str, str] = {
    "org.members.invite": "members_can_invite",
    "org.projects.create": "members_can_create_projects",
    "org.communities.create": "members_can_create_projects",
    "org.agents.manage": "members_can_create_agents",
}


#: roles an agent (``User.is_ai``) may hold
AGENT_ROLES = frozenset({MEMBER, VIEWER})
#: roles that need ``org.members.change_role`` to grant (member/viewer need only ``invite``)
ELEVATED_ROLES = frozenset({OWNER, ADMIN, BILLING})


def role_allows(role: str | None, permission: str, org_settings: Any = None) -> bool:
    if role is None:
        return False
    if permission not in MATRIX:
        raise KeyError(f"unknown organization permission {permission!r}")
    if role in MATRIX[permission]:
        return True
    flag = MEMBER_SETTING.get(permission)
    return bool(role == MEMBER and flag and org_settings is not None and getattr(org_settings, flag, False))


def member_role(user: Any, organization: Any) -> str | None:
    """The user's active role in the organization, or None (one indexed query)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    from .models import OrganizationMember

    return (
        OrganizationMember.objects.filter(organization=organization, user=user, status="active")
        .values_list("role", flat=True)
        .first()
    )


def org_role_allows(role: str | None, organization: Any, permission: str) -> bool:
    """``role_allows`` for a role held in ``organization``; its settings row is read only for members."""
    org_settings = None
    if role == MEMBER and permission in MEMBER_SETTING:
        org_settings = getattr(organization, "settings", None)
    return role_allows(role, permission, org_settings)


def has_org_permission(user: Any, organization: Any, permission: str) -> bool:
    return org_role_allows(member_role(user, organization), organization, permission)


def grantable_roles(actor_role: str | None, org_settings: Any = None) -> frozenset[str]:
    """The roles ``actor_role`` may give to someone (invite, add or change to).

    Only owners grant owner; admins grant every other role; members with
    ``members_can_invite`` may invite as member or viewer.
    """
    if actor_role == OWNER:
        return frozenset(ALL_ROLES)
    if actor_role is not None and role_allows(actor_role, "org.members.change_role", org_settings):
        return frozenset(ALL_ROLES) - {OWNER}
    if actor_role is not None and role_allows(actor_role, "org.members.invite", org_settings):
        return frozenset(ALL_ROLES) - ELEVATED_ROLES
    return frozenset()
