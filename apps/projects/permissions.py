"""Project permission levels (SCHEMA.md §21) — the one place they are decided.

Levels: view < contribute < maintain < admin. A user-owned project gives its
owner admin; an org-owned one maps the caller's org role (owner/admin → admin,
member → contribute, viewer/billing → view). Agents get only what their
``AgentProjectAccess`` grants (read → view, contribute, maintain; expired
grants count for nothing). ``network`` and ``public``
visibility give every member of the project's network view.

``require(user, project, permission)`` is what views, the brain and other
domains call: no view level → ``NotFound`` (a private project the caller
cannot see reads exactly like a missing one); view but not enough →
``PermissionDenied``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from django.db.models import Exists, OuterRef, Q

from apps.core.exceptions import NotFound, PermissionDenied
from apps.organizations.roles import ADMIN, BILLING, MEMBER, OWNER, VIEWER, member_role
from apps.organizations.selectors import active_organization_ids

from .models import Project, ProjectVisibility


class Level(IntEnum):
    NONE = 0
    VIEW = 1
    CONTRIBUTE = 2
    MAINTAIN = 3
    ADMIN = 4


ORG_ROLE_LEVEL: dict[str, Level] = {
    OWNER: Level.ADMIN,
    ADMIN: Level.ADMIN,
    MEMBER: Level.CONTRIBUTE,
    VIEWER: Level.VIEW,
    BILLING: Level.VIEW,
}

#: permission → the least level that has it
PERMISSIONS: dict[str, Level] = {
    "project.view": Level.VIEW,
    "project.edit": Level.MAINTAIN,
    "project.archive": Level.ADMIN,
    "project.delete": Level.ADMIN,
    "project.transfer": Level.ADMIN,
    "sandboxes.run": Level.CONTRIBUTE,
    "deployments.manage": Level.MAINTAIN,
    "infra.manage": Level.ADMIN,
    "brain.propose": Level.CONTRIBUTE,
    "brain.decide": Level.MAINTAIN,
    "brain.milestones": Level.MAINTAIN,
}

OPEN_VISIBILITIES = (ProjectVisibility.NETWORK, ProjectVisibility.PUBLIC)


def project_level(user: Any, project: Project) -> Level:
    """The caller's level on ``project`` (at most one query, for org-owned projects)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Level.NONE
    if user.network_id != project.network_id:
        return Level.NONE
    level = Level.NONE
    if getattr(user, "is_ai", False):
        # agents: only what AgentProjectAccess grants (never the owner's or an org role's level)
        from apps.agents.selectors import agent_project_level

        level = Level(agent_project_level(user, project))
    elif project.owner_user_id is not None:
        if project.owner_user_id == user.pk:
            level = Level.ADMIN
    else:
        role = member_role(user, project.owner_organization_id)
        level = ORG_ROLE_LEVEL.get(role or "", Level.NONE)
    if level < Level.VIEW and project.visibility in OPEN_VISIBILITIES:
        level = Level.VIEW
    return level


def require(user: Any, project: Project, permission: str) -> Level:
    """Raise unless ``user`` has ``permission`` on ``project``; returns the level."""
    needed = PERMISSIONS[permission]
    level = project_level(user, project)
    if level < Level.VIEW:
        raise NotFound()
    if level < needed:
        raise PermissionDenied(
            f"You need the {needed.name.lower()} level on this project for this.",
            code="project_permission_denied",
        )
    return level


def visible_q(user: Any, *, prefix: str = "") -> Q:
    """Rows (projects, or rows reached through ``prefix`` ``project__``) the user may view."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Q(pk__in=[])
    if getattr(user, "is_ai", False):
        from apps.agents.selectors import live_access

        granted = live_access().filter(agent=user, project=OuterRef(f"{prefix}pk" if prefix else "pk"))
        return Q(**{f"{prefix}visibility__in": list(OPEN_VISIBILITIES)}) | Q(Exists(granted))
    return (
        Q(**{f"{prefix}visibility__in": list(OPEN_VISIBILITIES)})
        | Q(**{f"{prefix}owner_user": user})
        | Q(**{f"{prefix}owner_organization__in": active_organization_ids(user)})
    )
