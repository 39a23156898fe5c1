"""Celery jobs of the preferences domain: thin wrappers over services, ids as arguments."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from . import services

logger = logging.getLogger(__name__)

_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(name="preferences.purge_due_accounts", **_RETRY)
def purge_due_accounts() -> dict[str, int]:
    return services.purge_due_accounts()


@shared_task(bind=True, name="preferences.build_export", max_retries=3)
def build_export(self, export_id: str) -> str | None:
    try:
        export = services.build_export(export_id=export_id)
    except Exception as exc:  # noqa: BLE001 — recorded on the export after the last retry
        logger.exception("data export %s failed (attempt %s)", export_id, self.request.retries + 1)
        if self.request.retries < self.max_retries and not self.request.is_eager:
            raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
        services.fail_export(export_id=export_id, error=f"{type(exc).__name__}: {exc}")
        return None
    return export.status if export is not None else None


@shared_task(name="preferences.expire_exports", **_RETRY)
def expire_exports() -> int:
    return services.expire_exports()


@shared_task(name="preferences.expire_email_changes", **_RETRY)
def expire_email_changes() -> int:
    return services.expire_email_changes()


@shared_task(name="preferences.prune_login_history", **_RETRY)
def prune_login_history() -> int:
    return services.prune_login_history()
