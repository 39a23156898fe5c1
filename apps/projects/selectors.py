"""Reads shared by the API, the brain and tasks."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet

from apps.core.exceptions import NotFound

from . import permissions
from .models import Database, Project, ResourceStatus, StorageBucket


def visible_projects(qs: QuerySet[Project], *, viewer: Any) -> QuerySet[Project]:
    """Projects of ``qs`` (already network-filtered) that ``viewer`` may see."""
    return qs.filter(permissions.visible_q(viewer))


def visible_rows(qs: QuerySet, *, viewer: Any) -> QuerySet:
    """Rows reached through ``project`` (infra, brain) whose project ``viewer`` may see."""
    return qs.filter(permissions.visible_q(viewer, prefix="project__"))


def project_for(*, network: Any, viewer: Any, pk: Any) -> Project:
    """A project of ``network`` that ``viewer`` may see, or ``NotFound``."""
    project = visible_projects(Project.objects.filter(network=network, pk=pk), viewer=viewer).first()
    if project is None:
        raise NotFound()
    return project


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "DEFAULT"


def injected_env(project: Project) -> dict[str, str]:
    """The secrets a sandbox or deployment of ``project`` receives, as environment variables."""
    env: dict[str, str] = {}
    if project.github_token:
        env["GITHUB_TOKEN"] = project.github_token
    for database in Database.objects.filter(project=project, status=ResourceStatus.READY).order_by("id"):
        if database.connection_url:
            env[f"DATABASE_URL_{_env_name(database.name)}"] = database.connection_url
    for bucket in StorageBucket.objects.filter(project=project, status=ResourceStatus.READY).order_by("id"):
        prefix = f"BUCKET_{_env_name(bucket.name)}"
        env[f"{prefix}_NAME"] = bucket.bucket_name
        env[f"{prefix}_REGION"] = bucket.region
        if bucket.endpoint_url:
            env[f"{prefix}_ENDPOINT_URL"] = bucket.endpoint_url
        if bucket.access_key_id and bucket.secret_access_key:
            env[f"{prefix}_ACCESS_KEY_ID"] = bucket.access_key_id
            env[f"{prefix}_SECRET_ACCESS_KEY"] = bucket.secret_access_key
    return env
