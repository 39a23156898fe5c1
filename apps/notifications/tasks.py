"""Celery jobs of notifications: thin wrappers over ``delivery``, ids as arguments.

``deliver(id)`` is idempotent (the row is claimed; a sent or skipped row is
left alone) and schedules its own retry after 30 s, 2 min and 10 min;
``retry_failed`` (every 5 min) re-queues what is due and what a dead worker
left behind.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import delivery

_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(name="notifications.deliver", **_RETRY)
def deliver(notification_id: str) -> str:
    outcome = delivery.deliver_notification(notification_id=notification_id)
    if outcome.retry_in is not None:
        # the row is not due before retry_in: an early (eager) run is a no-op
        deliver.apply_async((notification_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="notifications.retry_failed", **_RETRY)
def retry_failed() -> int:
    ids = delivery.due_for_retry()
    for notification_id in ids:
        deliver.delay(str(notification_id))
    return len(ids)


@shared_task(name="notifications.send_digests", **_RETRY)
def send_digests() -> dict[str, int]:
    return delivery.send_digests()


@shared_task(name="notifications.prune", **_RETRY)
def prune() -> dict[str, int]:
    return delivery.prune()
