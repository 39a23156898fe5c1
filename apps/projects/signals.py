"""Joins to other domains: an archived organization archives its projects.

The organizations app announces archiving with its ``organization_archived``
signal (``apps/organizations/signals.py``), inside the archiving transaction.
"""

from __future__ import annotations

from typing import Any


def _on_organization_archived(
    sender: Any, organization: Any = None, actor: Any = None, **kwargs: Any
) -> None:
    from . import services

    if organization is not None:
        services.archive_organization_projects(organization=organization, actor=actor)


def connect() -> None:
    from apps.organizations.signals import organization_archived

    organization_archived.connect(_on_organization_archived, dispatch_uid="projects.archive_org_projects")
