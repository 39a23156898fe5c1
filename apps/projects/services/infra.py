"""Sandboxes, deployments, storage buckets and databases.

Requests (create, start, stop, cancel, delete) move the row and enqueue the
provider work with ``transaction.on_commit``; the ``run_*`` functions are the
bodies of the Celery tasks: they take ids, re-read the row, check its state
and call the provider outside any transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core import audit
from apps.core.exceptions import Conflict, InvalidState, ValidationFailed
from apps.core.redis import key, lock

from .. import selectors, states
from ..models import (
    Database,
    DatabaseEngine,
    Deployment,
    DeploymentStatus,
    Project,
    ProjectStatus,
    ResourceStatus,
    Sandbox,
    SandboxStatus,
    StorageBucket,
)
from ..providers import ProviderError, get_provider
from ..providers.external import ExternalProvider
from ..providers.postgres import PostgresProvider
from ..providers.s3 import S3Provider

logger = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=15)
PROVISION_LOCK_SECONDS = 300
#: quota name in network.setting("project_quotas") → model and the states that still count
QUOTAS: dict[str, tuple[type[models.Model], tuple[str, ...]]] = {
    "sandboxes": (Sandbox, (SandboxStatus.DESTROYED,)),
    "storage_buckets": (StorageBucket, (ResourceStatus.DELETED,)),
    "databases": (Database, (ResourceStatus.DELETED,)),
}


def lock_active_project(project: Project) -> Project:
    """Row-lock the project (serialises quota checks, go-lives, brain numbering) and require it active."""
    project = Project.objects.select_for_update(of=("self",)).select_related("network").get(pk=project.pk)
    if project.status != ProjectStatus.ACTIVE:
        raise InvalidState("The project is archived.")
    return project


def _check_quota(project: Project, quota: str) -> None:
    quotas = project.network.setting("project_quotas") or {}
    limit = quotas.get(quota) if isinstance(quotas, dict) else None
    if limit is None:
        return
    model, gone = QUOTAS[quota]
    used = model._default_manager.filter(project=project).exclude(status__in=gone).count()
    if used >= int(limit):
        raise Conflict(
            f"This project has reached its quota of {limit} {quota.replace('_', ' ')}.",
            code="quota_exceeded",
            extra={"quota": quota, "limit": int(limit)},
        )


@contextmanager
def _provision_lock(resource: models.Model) -> Iterator[bool]:
    """One provider call per row at a time (a redelivered task waits its turn)."""
    with lock(
        key("projects", "provision", resource._meta.model_name, resource.pk), ttl=PROVISION_LOCK_SECONDS
    ) as acquired:
        yield acquired


def _audit(*, actor: Any, project: Project, action: str, target: models.Model) -> None:
    """Infra-level changes go to the audit log (the owning organization's, when it has one)."""
    audit.record(
        network=project.network_id,
        actor=actor,
        action=action,
        target=target,
        organization=project.owner_organization,
        data={"project": str(project.pk), "name": getattr(target, "name", None) or str(target)},
    )


def _enqueue(task_name: str, *args: Any) -> None:
    from .. import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(*args))


def _pg_name(prefix: str, slug: str, pk: Any) -> str:
    part = "".join(c if c.isalnum() else "_" for c in slug.lower())[:20].strip("_")
    return f"{prefix}_{part}_{pk.hex}" if part else f"{prefix}_{pk.hex}"


def _bucket_name(name: str, pk: Any) -> str:
    prefix = "".join(
        c if c.isalnum() or c == "-" else "-" for c in settings.PROJECT_STORAGE_BUCKET_PREFIX.lower()
    )
    part = "".join(c if c.isalnum() else "-" for c in name.lower())
    room = 63 - len(prefix) - len(pk.hex) - 1
    part = part[: max(room, 0)].strip("-")
    return (f"{prefix}{part}-{pk.hex}" if part else f"{prefix}{pk.hex}").strip("-")[:63]


# --- sandboxes -----------------------------------------------------------------


@transaction.atomic
def create_sandbox(
    *,
    actor: Any,
    project: Project,
    name: str,
    image: str,
    cpu_millis: int = 1000,
    memory_mb: int = 2048,
    idle_ttl_min: int = 120,
) -> Sandbox:
    project = lock_active_project(project)
    _check_quota(project, "sandboxes")
    sandbox = Sandbox(
        network_id=project.network_id,
        project=project,
        name=name,
        image=image,
        cpu_millis=cpu_millis,
        memory_mb=memory_mb,
        idle_ttl_min=idle_ttl_min,
        access_secret=secrets.token_urlsafe(32),
        provider=ExternalProvider.name,
        created_by=actor,
    )
    try:
        with transaction.atomic():
            sandbox.save(force_insert=True)
    except IntegrityError:
        raise ValidationFailed("This project already has a sandbox with this name.", field="name") from None
    _enqueue("provision_sandbox", str(sandbox.pk))
    return sandbox


@transaction.atomic
def start_sandbox(*, actor: Any, sandbox: Sandbox) -> Sandbox:
    lock_active_project(sandbox.project)
    states.move(
        sandbox,
        SandboxStatus.RUNNING,
        sources=frozenset({SandboxStatus.STOPPED}),
        last_active_at=timezone.now(),
        status_detail=None,
    )
    _enqueue("sandbox_command", str(sandbox.pk), "start")
    return sandbox


@transaction.atomic
def stop_sandbox(*, actor: Any, sandbox: Sandbox, reason: str | None = None) -> Sandbox:
    states.move(sandbox, SandboxStatus.STOPPED, status_detail=reason)
    _enqueue("sandbox_command", str(sandbox.pk), "stop")
    return sandbox


@transaction.atomic
def destroy_sandbox(*, actor: Any, sandbox: Sandbox) -> Sandbox:
    states.move(sandbox, SandboxStatus.DESTROYED)
    _enqueue("sandbox_command", str(sandbox.pk), "destroy")
    return sandbox


def stop_project_sandboxes(*, project: Project, reason: str) -> int:
    """Stop every running sandbox of ``project`` (inside the caller's transaction)."""
    ids = list(
        Sandbox.objects.filter(project=project, status=SandboxStatus.RUNNING).values_list("pk", flat=True)
    )
    return _stop_sandboxes(ids, reason=reason)


def _stop_sandboxes(ids: list[Any], *, reason: str) -> int:
    """running → stopped row by row; the provider is told once the move is committed."""
    stopped = 0
    for pk in ids:
        if states.transition(Sandbox, pk, SandboxStatus.STOPPED, status_detail=reason):
            _enqueue("sandbox_command", str(pk), "stop")
            stopped += 1
    return stopped


def run_provision_sandbox(sandbox_id: Any) -> str:
    """Task body: requested → provisioning, then ask the provider (secrets injected)."""
    if not states.transition(Sandbox, sandbox_id, SandboxStatus.PROVISIONING):
        return "skipped"
    sandbox = Sandbox.objects.select_related("project").get(pk=sandbox_id)
    try:
        result = ExternalProvider().provision(sandbox, env=selectors.injected_env(sandbox.project))
    except ProviderError as exc:
        states.transition(Sandbox, sandbox_id, SandboxStatus.FAILED, status_detail=str(exc))
        return "failed"
    if result:
        Sandbox.objects.filter(pk=sandbox_id).update(**result, updated_at=timezone.now())
    return "provisioning"


def run_sandbox_command(sandbox_id: Any, action: str) -> str:
    sandbox = Sandbox.objects.select_related("project").filter(pk=sandbox_id).first()
    if sandbox is None:
        return "missing"
    expected = {
        "start": SandboxStatus.RUNNING,
        "stop": SandboxStatus.STOPPED,
        "destroy": SandboxStatus.DESTROYED,
    }
    if sandbox.status != expected.get(action):
        return "skipped"  # superseded by a later request
    provider = get_provider(sandbox)
    if action == "destroy":
        provider.destroy(sandbox)
    else:
        provider.command(sandbox, action)
    return action


def reap_idle_sandboxes(*, now: Any = None) -> int:
    """Stop running sandboxes idle longer than their ``idle_ttl_min``."""
    now = now or timezone.now()
    idle_until = ExpressionWrapper(
        Coalesce("last_active_at", "updated_at") + F("idle_ttl_min") * Value(timedelta(minutes=1)),
        output_field=models.DateTimeField(),
    )
    ids = list(
        Sandbox.objects.filter(status=SandboxStatus.RUNNING, network__status="active")
        .annotate(idle_until=idle_until)
        .filter(idle_until__lt=now)
        .values_list("pk", flat=True)[:1000]
    )
    return _stop_sandboxes(ids, reason="stopped after being idle")


# --- deployments ----------------------------------------------------------------


def _queue_deployment(*, actor: Any, project: Project, environment: str, git_ref: str) -> Deployment:
    if not project.repo_url:
        raise ValidationFailed(
            "Set the project's repo_url before deploying.", field="git_ref", code="no_repository"
        )
    deployment = Deployment.objects.create(
        network_id=project.network_id,
        project=project,
        environment=environment,
        git_ref=git_ref or project.default_branch,
        provider=ExternalProvider.name,
        created_by=actor,
    )
    _audit(actor=actor, project=project, action="project.deployment.created", target=deployment)
    _enqueue("start_deployment", str(deployment.pk))
    return deployment


@transaction.atomic
def create_deployment(
    *, actor: Any, project: Project, environment: str, git_ref: str | None = None
) -> Deployment:
    project = lock_active_project(project)
    return _queue_deployment(actor=actor, project=project, environment=environment, git_ref=git_ref or "")


@transaction.atomic
def redeploy(*, actor: Any, deployment: Deployment) -> Deployment:
    """A new deployment of the same environment and ref."""
    project = lock_active_project(deployment.project)
    return _queue_deployment(
        actor=actor, project=project, environment=deployment.environment, git_ref=deployment.git_ref
    )


@transaction.atomic
def cancel_deployment(*, actor: Any, deployment: Deployment) -> Deployment:
    states.move(deployment, DeploymentStatus.CANCELLED, finished_at=timezone.now())
    _enqueue("deployment_command", str(deployment.pk), "cancel")
    return deployment


def run_start_deployment(deployment_id: Any) -> str:
    deployment = Deployment.objects.select_related("project").filter(pk=deployment_id).first()
    if deployment is None or deployment.status != DeploymentStatus.QUEUED or deployment.provider_ref:
        return "skipped"
    with _provision_lock(deployment) as acquired:
        if not acquired:
            return "busy"
        try:
            result = ExternalProvider().provision(deployment, env=selectors.injected_env(deployment.project))
        except ProviderError as exc:
            states.transition(
                Deployment, deployment_id, DeploymentStatus.FAILED, error=str(exc), finished_at=timezone.now()
            )
            return "failed"
        if result:
            Deployment.objects.filter(pk=deployment_id).update(**result, updated_at=timezone.now())
    return "submitted"


def run_deployment_command(deployment_id: Any, action: str) -> str:
    deployment = Deployment.objects.select_related("project").filter(pk=deployment_id).first()
    if deployment is None:
        return "missing"
    get_provider(deployment).command(deployment, action)
    return action


@transaction.atomic
def go_live(*, deployment_id: Any, **fields: Any) -> bool:
    """deploying → live; the environment's previous live deployment becomes superseded."""
    deployment = Deployment.objects.filter(pk=deployment_id).first()
    if deployment is None or not states.can_move(Deployment, deployment.status, DeploymentStatus.LIVE):
        return False
    Project.objects.select_for_update().filter(pk=deployment.project_id).first()
    previous = Deployment.objects.filter(
        project_id=deployment.project_id, environment=deployment.environment, status=DeploymentStatus.LIVE
    ).exclude(pk=deployment_id)
    for pk in previous.values_list("pk", flat=True):
        states.transition(Deployment, pk, DeploymentStatus.SUPERSEDED)
    return states.transition(
        Deployment, deployment_id, DeploymentStatus.LIVE, finished_at=timezone.now(), **fields
    )


# --- storage buckets and databases ---------------------------------------------------


@transaction.atomic
def create_bucket(*, actor: Any, project: Project, name: str, public_read: bool = False) -> StorageBucket:
    project = lock_active_project(project)
    _check_quota(project, "storage_buckets")
    bucket = StorageBucket(
        network_id=project.network_id,
        project=project,
        name=name,
        public_read=public_read,
        region=settings.PROJECT_STORAGE_REGION,
        endpoint_url=settings.PROJECT_STORAGE_ENDPOINT_URL,
        provider=S3Provider.name,
        created_by=actor,
    )
    bucket.bucket_name = _bucket_name(name, bucket.pk)
    try:
        with transaction.atomic():
            bucket.save(force_insert=True)
    except IntegrityError:
        raise ValidationFailed("This project already has a bucket with this name.", field="name") from None
    _audit(actor=actor, project=project, action="project.bucket.created", target=bucket)
    _enqueue("provision_resource", "storagebucket", str(bucket.pk))
    return bucket


@transaction.atomic
def create_database(
    *, actor: Any, project: Project, name: str, engine: str = DatabaseEngine.POSTGRES
) -> Database:
    if not settings.PROJECT_DATABASES_URL:
        raise Conflict("Project databases are not available here.", code="provider_unavailable")
    project = lock_active_project(project)
    _check_quota(project, "databases")
    database = Database(
        network_id=project.network_id,
        project=project,
        name=name,
        engine=engine,
        provider=PostgresProvider.name,
        created_by=actor,
    )
    database.db_name = _pg_name("cdb", project.slug, database.pk)
    database.role_name = _pg_name("cdr", project.slug, database.pk)
    try:
        with transaction.atomic():
            database.save(force_insert=True)
    except IntegrityError:
        raise ValidationFailed("This project already has a database with this name.", field="name") from None
    _audit(actor=actor, project=project, action="project.database.created", target=database)
    _enqueue("provision_resource", "database", str(database.pk))
    return database


RESOURCE_MODELS: dict[str, type[StorageBucket] | type[Database]] = {
    "storagebucket": StorageBucket,
    "database": Database,
}


@transaction.atomic
def delete_resource(*, actor: Any, resource: StorageBucket | Database) -> StorageBucket | Database:
    """ready/failed → deleting; the provider deletes it after commit."""
    states.move(resource, ResourceStatus.DELETING, status_detail=None)
    kind = "bucket" if isinstance(resource, StorageBucket) else "database"
    _audit(actor=actor, project=resource.project, action=f"project.{kind}.deleted", target=resource)
    _enqueue("destroy_resource", resource._meta.model_name, str(resource.pk))
    return resource


def run_provision_resource(kind: str, resource_id: Any) -> str:
    """Task body: create the bucket/database, store its secrets, provisioning → ready."""
    model = RESOURCE_MODELS[kind]
    resource = model._default_manager.filter(pk=resource_id).first()
    if resource is None or resource.status != ResourceStatus.PROVISIONING:
        return "skipped"
    with _provision_lock(resource) as acquired:
        if not acquired:
            return "busy"
        try:
            result = get_provider(resource).provision(resource)
        except ProviderError as exc:
            states.transition(model, resource_id, ResourceStatus.FAILED, status_detail=str(exc))
            return "failed"
        secret_names = ("access_key_id", "secret_access_key", "connection_url")
        hidden = states.with_hints(**{name: result.pop(name) for name in secret_names if name in result})
        if not states.transition(
            model, resource_id, ResourceStatus.READY, status_detail=None, **hidden, **result
        ):
            return "raced"  # reconciled as failed meanwhile: deleting it cleans up
    return "ready"


def run_destroy_resource(kind: str, resource_id: Any) -> str:
    """Task body: deleting → deleted once the provider removed it (raises to retry)."""
    model = RESOURCE_MODELS[kind]
    resource = model._default_manager.filter(pk=resource_id).first()
    if resource is None or resource.status != ResourceStatus.DELETING:
        return "skipped"
    try:
        get_provider(resource).destroy(resource)
    except ProviderError as exc:
        model._default_manager.filter(pk=resource_id).update(
            status_detail=str(exc), updated_at=timezone.now()
        )
        raise
    states.transition(
        model, resource_id, ResourceStatus.DELETED, **states.with_hints(**_cleared_secrets(model))
    )
    return "deleted"


def _cleared_secrets(model: type[models.Model]) -> dict[str, None]:
    if model is StorageBucket:
        return {"access_key_id": None, "secret_access_key": None}
    return {"connection_url": None}


def refresh_storage_usage() -> int:
    """Hourly: bucket size/object count and database size from their providers."""
    refreshed = 0
    for model in (StorageBucket, Database):
        rows = model._default_manager.filter(status=ResourceStatus.READY, network__status="active")
        for resource in rows.iterator(chunk_size=200):
            try:
                usage = get_provider(resource).refresh(resource)
            except ProviderError as exc:
                logger.warning("usage refresh of %s %s failed: %s", model.__name__, resource.pk, exc)
                continue
            if model is StorageBucket:
                usage["usage_refreshed_at"] = timezone.now()
            model._default_manager.filter(pk=resource.pk, status=ResourceStatus.READY).update(**usage)
            refreshed += 1
    return refreshed


def list_bucket_objects(
    *, bucket: StorageBucket, prefix: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    if bucket.status != ResourceStatus.READY:
        raise InvalidState("The bucket is not ready.")
    provider = get_provider(bucket)
    assert isinstance(provider, S3Provider)
    return provider.list_objects(bucket, prefix=prefix, limit=limit)


# --- reconciliation and project teardown -------------------------------------------


def reconcile_provisioning(*, now: Any = None) -> int:
    """Rows stuck in a transitional state for more than 15 minutes → failed."""
    cutoff = (now or timezone.now()) - STUCK_AFTER
    failed = 0
    for model, waiting in states.TRANSITIONAL.items():
        for status in waiting:
            fields: dict[str, Any] = {"status_detail": f"stuck in {status} for more than 15 minutes"}
            if model is Deployment:
                fields |= {"error": fields["status_detail"], "finished_at": timezone.now()}
            failed += model._default_manager.filter(status=status, updated_at__lt=cutoff).update(
                status="failed", updated_at=timezone.now(), **fields
            )
    _requeue_webhooks(now=now)
    return failed


def _requeue_webhooks(*, now: Any = None) -> int:
    """Deliveries recorded but never processed (a lost task) are processed again."""
    from apps.core.models import InboundWebhook

    from .. import tasks

    cutoff = (now or timezone.now()) - timedelta(minutes=5)
    pending = list(
        InboundWebhook.objects.filter(
            source__in=[InboundWebhook.Source.SANDBOX, InboundWebhook.Source.DEPLOY],
            status=InboundWebhook.Status.RECEIVED,
            created_at__lt=cutoff,
        ).values_list("pk", flat=True)[:500]
    )
    for pk in pending:
        tasks.process_infra_webhook.delay(str(pk))
    return len(pending)


def detach_and_destroy_all(*, project: Project) -> int:
    """Before a project row is deleted: enqueue the destruction of everything it runs.

    The rows disappear with the project, so each task receives the identifiers
    its provider needs (never secrets) instead of an id to re-read.
    """
    specs: list[dict[str, Any]] = []
    for bucket in StorageBucket.objects.filter(project=project).exclude(status=ResourceStatus.DELETED):
        specs.append(
            {"kind": "storagebucket", "provider": bucket.provider, "bucket_name": bucket.bucket_name}
        )
    for database in Database.objects.filter(project=project).exclude(status=ResourceStatus.DELETED):
        specs.append(
            {
                "kind": "database",
                "provider": database.provider,
                "db_name": database.db_name,
                "role_name": database.role_name,
            }
        )
    for sandbox in Sandbox.objects.filter(project=project).exclude(status=SandboxStatus.DESTROYED):
        specs.append(_external_spec("sandbox", sandbox))
    for deployment in Deployment.objects.filter(
        project=project, status__in=[*states.DEPLOYMENT_UNFINISHED, DeploymentStatus.LIVE]
    ):
        specs.append(_external_spec("deployment", deployment))
    for spec in specs:
        _enqueue("destroy_detached", spec)
    return len(specs)


def _external_spec(kind: str, row: Sandbox | Deployment) -> dict[str, Any]:
    return {
        "kind": kind,
        "provider": row.provider,
        "id": str(row.pk),
        "project_id": str(row.project_id),
        "network_id": str(row.network_id),
    }


DETACHED_MODELS: dict[str, type[models.Model]] = {
    "storagebucket": StorageBucket,
    "database": Database,
    "sandbox": Sandbox,
    "deployment": Deployment,
}


def run_destroy_detached(spec: dict[str, Any]) -> str:
    """Task body: destroy a resource whose row is gone (idempotent: missing is fine)."""
    model = DETACHED_MODELS[spec["kind"]]
    fields = {k: v for k, v in spec.items() if k != "kind"}
    if "id" in fields:
        fields["pk"] = fields.pop("id")
    resource = model(**fields)
    get_provider(resource).destroy(resource)
    return "destroyed"
