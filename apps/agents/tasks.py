"""Agent jobs (thin wrappers over services; arguments are ids)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone


@shared_task(name="agents.execute_run", ignore_result=True, acks_late=True)
def execute_run(run_id: str) -> None:
    """Run one queued AgentRun (idempotent: a run that is not queued any more is left alone)."""
    from .services.runs import run_agent

    run_agent(run=run_id)


@shared_task(
    name="agents.dispatch_due_schedules",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
)
def dispatch_due_schedules() -> int:
    """Every minute: claim due scheduled tasks (SKIP LOCKED) and enqueue one run per slot."""
    from .services.runs import reap_stale_runs
    from .services.schedules import dispatch_due_schedules as dispatch

    reap_stale_runs()
    return dispatch()


@shared_task(name="agents.summarize_conversations", ignore_result=True)
def summarize_conversations() -> int:
    """Every 10 minutes: roll conversation summaries for agents with 50+ new messages."""
    from .services.summaries import summarize_conversations as summarize

    return summarize()


@shared_task(name="agents.prune_memory", ignore_result=True)
def prune_memory() -> int:
    from .services.memory import prune_memory as prune

    return prune()


@shared_task(name="agents.purge_guard_logs", ignore_result=True)
def purge_guard_logs() -> int:
    from .models import PromptGuardLog

    cutoff = timezone.now() - timezone.timedelta(days=settings.PROMPT_GUARD_LOG_RETENTION_DAYS)
    return PromptGuardLog.objects.filter(created_at__lt=cutoff).delete()[0]
