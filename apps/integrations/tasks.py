"""Integration jobs (thin wrappers over services; arguments are ids)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

logger = logging.getLogger(__name__)


@shared_task(name="integrations.execute_tool", ignore_result=True, acks_late=True)
def execute_tool(execution_id: str) -> None:
    """Run one approved tool call (the claim approved → executing makes a redelivery a no-op)."""
    from .services import execute_pending

    execute_pending(execution_id=execution_id)


@shared_task(
    name="integrations.expire_pending",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def expire_pending() -> int:
    """Every 5 minutes: pending approvals past 24 h → expired; connect flows past 15 min → expired;
    executions left ``executing`` by a dead worker → failed (no second provider call)."""
    from .services import connections, execution

    return (
        execution.expire_pending()
        + connections.expire_pending_connections()
        + execution.reap_stale_executions()
    )


@shared_task(name="integrations.refresh_connections", ignore_result=True)
def refresh_connections() -> int:
    """Hourly: ask the provider for the state of active connections (expired / failed ones are marked)."""
    from .connectors import ConnectorError
    from .models import UserIntegration
    from .services import refresh_connection

    done = 0
    for integration in UserIntegration.objects.filter(status="active").order_by("updated_at")[:500]:
        try:
            refresh_connection(actor=None, integration=integration)
            done += 1
        except ConnectorError as exc:
            logger.info("refresh of connection %s failed: %s", integration.pk, exc.code)
    return done


@shared_task(name="integrations.purge_logs", ignore_result=True)
def purge_logs() -> int:
    """Daily: execution log rows past the retention (90 days)."""
    from .services import purge_logs as purge

    return purge()


@shared_task(
    name="integrations.process_composio_event",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def process_composio_event(webhook_id: str) -> None:
    from .webhooks import process_event

    process_event(webhook_id=webhook_id)
