"""Beat jobs of API keys (schedules in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from . import services


@shared_task(
    name="apikeys.rollup_usage",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def rollup_usage() -> int:
    """Every 5 minutes: Redis usage counters → ApiKeyUsage (idempotent, concurrency-safe)."""
    return services.rollup_usage()


@shared_task(
    name="apikeys.expiry_reminders",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def expiry_reminders() -> int:
    """Daily: one reminder email per key expiring within 7 days."""
    return services.send_expiry_reminders()


@shared_task(
    name="apikeys.purge_usage",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def purge_usage() -> int:
    """Daily: drop usage rows older than 13 months."""
    return services.purge_usage()
