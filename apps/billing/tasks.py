"""Billing jobs (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

# --- AI usage ---


@shared_task(
    name="billing.rollup_ai_usage",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def rollup_ai_usage() -> int:
    """AIUsageDaily for yesterday and today from AIUsage (idempotent: sets sums, never adds)."""
    from .services.ai import rollup_ai_usage as rollup

    return rollup()


# --- Stripe (own module) ---
from .stripe_tasks import (  # noqa: E402,F401
    process_stripe_event,
    process_stripe_events,
    push_seats,
    reconcile_subscriptions,
    report_usage,
    retry_stripe_events,
    sync_seats,
)
