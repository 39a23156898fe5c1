"""Celery jobs of the inbox: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(name="inbox.purge", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def purge() -> int:
    return services.purge()
