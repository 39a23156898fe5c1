"""Stripe jobs (thin wrappers over services; imported by ``apps.billing.tasks`` for autodiscovery)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import DatabaseError

from .stripe_client import StripeUnavailable

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="billing.process_stripe_event",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=8,
)
def process_stripe_event(self: Any, webhook_id: str) -> str:
    """Handle one stored Stripe event once; Stripe down → retry with backoff (the row keeps attempts)."""
    from .services.stripe_events import RETRY
    from .services.stripe_events import process_stripe_event as process

    outcome = process(webhook_id=webhook_id)
    if outcome == RETRY:
        raise self.retry(countdown=min(2 ** (self.request.retries + 1), 300), max_retries=8)
    return outcome


@shared_task(
    name="billing.process_stripe_events",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=8,
)
def process_stripe_events(webhook_ids: list[str]) -> int:
    """A batch from the intake's publisher: each row once; one Stripe is down for goes on alone,
    retried with backoff by ``process_stripe_event`` (the row keeps its attempts)."""
    from .services.stripe_events import RETRY
    from .services.stripe_events import process_stripe_event as process

    done = 0
    for webhook_id in webhook_ids:
        try:
            outcome = process(webhook_id=webhook_id)
        except Exception:  # one bad row does not hold back the batch (retry_stripe_events re-sends it)
            logger.exception("stripe: event %s failed in a batch", webhook_id)
            continue
        if outcome == RETRY:
            process_stripe_event.apply_async((webhook_id,), countdown=2)
        else:
            done += 1
    return done


@shared_task(name="billing.retry_stripe_events", ignore_result=True)
def retry_stripe_events() -> int:
    """Re-enqueue verified events left ``received`` for over 5 minutes (a lost message, a dead worker)."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.models import InboundWebhook

    stale = InboundWebhook.objects.filter(
        source=InboundWebhook.Source.STRIPE,
        status=InboundWebhook.Status.RECEIVED,
        signature_valid=True,
        created_at__lt=timezone.now() - timedelta(minutes=5),
    ).values_list("pk", flat=True)[:500]
    ids = [str(pk) for pk in stale]
    for pk in ids:
        process_stripe_event.delay(pk)
    return len(ids)


@shared_task(
    name="billing.report_usage",
    ignore_result=True,
    autoretry_for=(DatabaseError, StripeUnavailable),
    retry_backoff=True,
    max_retries=5,
)
def report_usage(day: str | None = None) -> dict:
    """Yesterday's AI overage: credits first, the rest to the Stripe meter (``usage:<account>:<day>``)."""
    from datetime import date

    from .services.stripe_usage import report_usage as report

    return report(day=date.fromisoformat(day) if day else None)


@shared_task(
    name="billing.reconcile_subscriptions",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def reconcile_subscriptions() -> dict:
    from .services.stripe_usage import reconcile_subscriptions as reconcile

    return reconcile()


@shared_task(
    name="billing.sync_seats",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def sync_seats(organization_id: str) -> int | None:
    from .services.stripe_accounts import sync_seats as sync

    return sync(organization_id=organization_id)


@shared_task(
    bind=True,
    name="billing.push_seats",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=8,
)
def push_seats(self: Any, change_id: str) -> str:
    """A seat change to Stripe (key ``seats:<row>:<quantity>``); Stripe down or busy → retry with backoff."""
    from .services.stripe_accounts import SEATS_RETRY
    from .services.stripe_accounts import push_seats as push

    outcome = push(change_id=change_id)
    if outcome == SEATS_RETRY:
        raise self.retry(countdown=min(2 ** (self.request.retries + 1), 300), max_retries=8)
    return outcome
