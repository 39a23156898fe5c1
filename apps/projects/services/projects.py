"""Project lifecycle: create, update, archive, unarchive, transfer, delete.

Permission levels are checked by the callers (API views through
``permissions.require``; the admin is staff-only). These functions keep the
rules every caller shares: same network, ownership, slugs, states.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.core import audit
from apps.core.api import ensure_same_network
from apps.core.exceptions import Conflict, InvalidState, PermissionDenied, ValidationFailed
from apps.organizations.models import Organization
from apps.organizations.roles import has_org_permission

from ..models import Project, ProjectStatus, ProjectVisibility
from . import infra

_UNSET: Any = object()
SLUG_MAX = 60


def _audit(
    *, project: Project, actor: Any, action: str, data: dict[str, Any] | None = None, organization: Any = None
) -> None:
    organization = organization or project.owner_organization
    audit.record(
        network=project.network_id,
        actor=actor,
        action=action,
        target=project,
        organization=organization,
        data=data or {},
    )


def _owner_filter(*, owner_user: Any = None, owner_organization: Any = None) -> dict[str, Any]:
    if owner_organization is not None:
        return {"owner_organization": owner_organization}
    return {"owner_user": owner_user}


def _free_slug(*, network: Any, base: str, owner_user: Any = None, owner_organization: Any = None) -> str:
    base = (base or "project")[: SLUG_MAX - 7].strip("-") or "project"
    taken = set(
        Project.objects.filter(
            network=network,
            slug__startswith=base,
            **_owner_filter(owner_user=owner_user, owner_organization=owner_organization),
        ).values_list("slug", flat=True)
    )
    if base not in taken:
        return base
    for n in range(2, 100):
        candidate = f"{base}-{n}"
        if candidate not in taken:
            return candidate
    return f"{base}-{secrets.token_hex(3)}"


def _slug_taken(*, network: Any, slug: str, owner_user: Any, owner_organization: Any) -> bool:
    return Project.objects.filter(
        network=network,
        slug=slug,
        **_owner_filter(owner_user=owner_user, owner_organization=owner_organization),
    ).exists()


def _check_org(*, actor: Any, organization: Organization, field: str) -> None:
    ensure_same_network(actor.network_id, organization)
    if organization.archived_at is not None:
        raise ValidationFailed("This organization is archived.", field=field, code="organization_archived")
    if not has_org_permission(actor, organization, "org.projects.create"):
        raise PermissionDenied(
            "Your role in this organization does not allow creating projects.", code="org_permission_denied"
        )


@transaction.atomic
def create_project(
    *,
    actor: Any,
    name: str,
    slug: str | None = None,
    description: str = "",
    visibility: str | None = None,
    repo_url: str | None = None,
    default_branch: str = "main",
    github_token: str | None = None,
    owner_organization: Organization | None = None,
) -> Project:
    """A project owned by ``actor`` or, with ``owner_organization``, by that organization."""
    network_id = actor.network_id
    owner_user = None if owner_organization is not None else actor
    if owner_organization is not None:
        _check_org(actor=actor, organization=owner_organization, field="owner_organization")
        if visibility is None:
            org_settings = getattr(owner_organization, "settings", None)
            visibility = getattr(org_settings, "default_project_visibility", None)
    visibility = visibility or ProjectVisibility.PRIVATE
    if not slug:
        slug = _free_slug(
            network=network_id,
            base=slugify(name)[:SLUG_MAX],
            owner_user=owner_user,
            owner_organization=owner_organization,
        )
    project = Project(
        network_id=network_id,
        owner_user=owner_user,
        owner_organization=owner_organization,
        name=name,
        slug=slug,
        description=description,
        visibility=visibility,
        repo_url=repo_url or None,
        default_branch=default_branch or "main",
        github_token=github_token or None,
        created_by=actor,
    )
    try:
        with transaction.atomic():
            project.save(force_insert=True)
    except IntegrityError:
        raise ValidationFailed(
            "This owner already has a project with this slug.", field="slug", code="slug_taken"
        ) from None
    _audit(project=project, actor=actor, action="project.created", data={"slug": slug})
    return project


@transaction.atomic
def update_project(
    *,
    actor: Any,
    project: Project,
    name: str = _UNSET,
    slug: str = _UNSET,
    description: str = _UNSET,
    visibility: str = _UNSET,
    repo_url: str | None = _UNSET,
    default_branch: str = _UNSET,
    github_token: str | None = _UNSET,
) -> Project:
    """Change fields; ``github_token`` set to None or "" clears it."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    changed: list[str] = []
    for field, value in (
        ("name", name),
        ("description", description),
        ("visibility", visibility),
        ("default_branch", default_branch),
    ):
        if value is not _UNSET and getattr(project, field) != value:
            setattr(project, field, value)
            changed.append(field)
    if repo_url is not _UNSET and project.repo_url != (repo_url or None):
        project.repo_url = repo_url or None
        changed.append("repo_url")
    if slug is not _UNSET and slug != project.slug:
        project.slug = slug
        changed.append("slug")
    if github_token is not _UNSET:
        project.github_token = github_token or None
        changed += ["github_token", "github_token_hint"]
    if not changed:
        return project
    try:
        with transaction.atomic():
            project.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        raise ValidationFailed(
            "This owner already has a project with this slug.", field="slug", code="slug_taken"
        ) from None
    _audit(
        project=project,
        actor=actor,
        action="project.updated",
        data={"fields": sorted(f for f in changed if f != "github_token_hint")},
    )
    return project


@transaction.atomic
def archive_project(*, actor: Any, project: Project) -> Project:
    """active → archived; running sandboxes are stopped."""
    moved = Project.objects.filter(pk=project.pk, status=ProjectStatus.ACTIVE).update(
        status=ProjectStatus.ARCHIVED, updated_at=timezone.now()
    )
    if not moved:
        raise InvalidState("Only an active project can be archived.")
    project.refresh_from_db()
    infra.stop_project_sandboxes(project=project, reason="project archived")
    _audit(project=project, actor=actor, action="project.archived")
    return project


@transaction.atomic
def unarchive_project(*, actor: Any, project: Project) -> Project:
    moved = Project.objects.filter(pk=project.pk, status=ProjectStatus.ARCHIVED).update(
        status=ProjectStatus.ACTIVE, updated_at=timezone.now()
    )
    if not moved:
        raise InvalidState("Only an archived project can be unarchived.")
    project.refresh_from_db()
    _audit(project=project, actor=actor, action="project.unarchived")
    return project


@transaction.atomic
def transfer_project(
    *, actor: Any, project: Project, owner_user: Any = None, owner_organization: Organization | None = None
) -> Project:
    """Hand the project to the actor themself or to an organization where they may create projects."""
    if (owner_user is None) == (owner_organization is None):
        raise ValidationFailed("Give exactly one of owner_user and owner_organization.", code="one_owner")
    project = Project.objects.select_for_update().get(pk=project.pk)
    previous_org = project.owner_organization
    if owner_organization is not None:
        _check_org(actor=actor, organization=owner_organization, field="owner_organization")
        if project.owner_organization_id == owner_organization.pk:
            raise ValidationFailed("The organization already owns this project.", field="owner_organization")
    else:
        ensure_same_network(project.network_id, owner_user)
        if owner_user.pk != actor.pk:
            raise ValidationFailed(
                "A project can be transferred to yourself or to an organization.", field="owner_user"
            )
        if project.owner_user_id == owner_user.pk:
            raise ValidationFailed("You already own this project.", field="owner_user")
    if _slug_taken(
        network=project.network_id,
        slug=project.slug,
        owner_user=owner_user,
        owner_organization=owner_organization,
    ):
        raise Conflict("The new owner already has a project with this slug.", code="slug_taken")
    project.owner_user = owner_user
    project.owner_organization = owner_organization
    project.save(update_fields=["owner_user", "owner_organization", "updated_at"])
    data = {
        "to_user": str(owner_user.pk) if owner_user else None,
        "to_organization": str(owner_organization.pk) if owner_organization else None,
    }
    if previous_org is not None:
        _audit(
            project=project,
            actor=actor,
            action="project.transferred_out",
            data=data,
            organization=previous_org,
        )
    if owner_organization is not None:
        _audit(project=project, actor=actor, action="project.transferred_in", data=data)
    return project


@transaction.atomic
def delete_project(*, actor: Any, project: Project) -> None:
    """Delete an archived project; its infrastructure is destroyed after commit."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    if project.status != ProjectStatus.ARCHIVED:
        raise InvalidState("Archive the project before deleting it.")
    _audit(project=project, actor=actor, action="project.deleted", data={"slug": project.slug})
    infra.detach_and_destroy_all(project=project)
    project.delete()


@transaction.atomic
def force_destroy_project(*, actor: Any, project: Project) -> None:
    """Back office: archive if needed, destroy every resource, delete the project."""
    Project.objects.filter(pk=project.pk, status=ProjectStatus.ACTIVE).update(
        status=ProjectStatus.ARCHIVED, updated_at=timezone.now()
    )
    delete_project(actor=actor, project=project)


def archive_organization_projects(*, organization: Organization, actor: Any = None) -> int:
    """Archive every active project of an archived organization (its archive hook)."""
    count = 0
    for project in Project.objects.filter(
        network=organization.network_id, owner_organization=organization, status=ProjectStatus.ACTIVE
    ):
        try:
            archive_project(actor=actor, project=project)
        except InvalidState:  # archived meanwhile
            continue
        count += 1
    return count
