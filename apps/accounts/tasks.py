"""Celery jobs of the accounts domain (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(
    name="accounts.clear_sessions", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5
)
def clear_sessions() -> dict[str, int]:
    return services.clear_sessions()
