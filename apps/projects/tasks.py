"""Celery tasks of the projects domain: thin wrappers over ``services``.

Arguments are ids (or, for rows already deleted, the identifiers a provider
needs); every task re-reads its row and checks its state, so a redelivery or
a retry does nothing twice. Beat schedules are in settings.CELERY_BEAT_SCHEDULE.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError

from .providers import ProviderError, ProviderUnavailable
from .services import infra, webhooks

_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": True, "max_retries": 5}
_RETRY_PROVIDER = {
    "autoretry_for": (DatabaseError, ProviderError),
    "dont_autoretry_for": (ProviderUnavailable,),
    "retry_backoff": True,
    "max_retries": 6,
}


@shared_task(name="projects.provision_sandbox", ignore_result=True, **_RETRY)
def provision_sandbox(sandbox_id: str) -> str:
    return infra.run_provision_sandbox(sandbox_id)


@shared_task(name="projects.sandbox_command", ignore_result=True, **_RETRY_PROVIDER)
def sandbox_command(sandbox_id: str, action: str) -> str:
    return infra.run_sandbox_command(sandbox_id, action)


@shared_task(name="projects.start_deployment", ignore_result=True, **_RETRY)
def start_deployment(deployment_id: str) -> str:
    return infra.run_start_deployment(deployment_id)


@shared_task(name="projects.deployment_command", ignore_result=True, **_RETRY_PROVIDER)
def deployment_command(deployment_id: str, action: str) -> str:
    return infra.run_deployment_command(deployment_id, action)


@shared_task(name="projects.provision_resource", **_RETRY)
def provision_resource(kind: str, resource_id: str) -> str:
    """Create a storage bucket or database (``kind`` = storagebucket | database)."""
    return infra.run_provision_resource(kind, resource_id)


@shared_task(name="projects.destroy_resource", **_RETRY_PROVIDER)
def destroy_resource(kind: str, resource_id: str) -> str:
    return infra.run_destroy_resource(kind, resource_id)


@shared_task(name="projects.destroy_detached", ignore_result=True, **_RETRY_PROVIDER)
def destroy_detached(spec: dict[str, Any]) -> str:
    return infra.run_destroy_detached(spec)


@shared_task(name="projects.process_infra_webhook", ignore_result=True, **_RETRY)
def process_infra_webhook(webhook_id: str) -> str:
    return webhooks.process_webhook(webhook_id=webhook_id)


@shared_task(name="projects.reap_idle_sandboxes", ignore_result=True, **_RETRY)
def reap_idle_sandboxes() -> int:
    """Every 5 minutes: stop sandboxes idle past their idle_ttl_min."""
    return infra.reap_idle_sandboxes()


@shared_task(name="projects.refresh_bucket_usage", ignore_result=True, **_RETRY)
def refresh_bucket_usage() -> int:
    """Hourly: bucket size/object count (and database size) from the providers."""
    return infra.refresh_storage_usage()


@shared_task(name="projects.reconcile_provisioning", ignore_result=True, **_RETRY)
def reconcile_provisioning() -> int:
    """Every 10 minutes: rows stuck in a transitional state > 15 minutes → failed."""
    return infra.reconcile_provisioning()
