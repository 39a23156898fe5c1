"""Sharing jobs (beat schedule in settings): thin wrappers over services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="sharing.sync_unique_visitors", ignore_result=True)
def sync_unique_visitors() -> int:
    """Every 10 minutes: unique visitors of recently clicked shares from their HyperLogLog."""
    return services.sync_unique_visitors()
