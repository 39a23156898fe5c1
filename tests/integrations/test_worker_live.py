"""End to end on a real Celery worker process, with the local SaaS stand-in over HTTP.

1. An approval in this process queues the execution; the worker runs it against the stub and writes the log.
2. A worker killed during the provider call leaves the row ``executing``; the reaper resolves it without a
   second call to the provider (the stub counts calls), and a late re-run is a no-op.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.integrations.models import PendingToolExecution, ToolExecutionLog
from apps.integrations.services import approve, execute_pending, reap_stale_executions, request_tool_call
from tests.live import CeleryWorker, wait_for

from .factories import github_grant

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(saas, monkeypatch):
    """The worker process reads the provider settings from its environment."""
    monkeypatch.setenv("COMPOSIO_BASE_URL", saas.url)
    monkeypatch.setenv("COMPOSIO_API_KEY", "cmp-test-key")
    monkeypatch.setenv("INTEGRATIONS_ALLOW_PRIVATE_URLS", "True")
    monkeypatch.setenv("INTEGRATIONS_HTTP_TIMEOUT_SECONDS", "60")
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield saas
    app.conf.task_always_eager = previous


def _pending(user):
    grant = github_grant(user, approval_policy="always")
    return request_tool_call(
        agent=grant.agent, tool="GITHUB_CREATE_ISSUE", arguments={"title": "Bug"}
    ).execution


def test_an_approved_call_runs_once_on_a_real_worker(worker_env, user):
    saas = worker_env
    execution = _pending(user)
    worker = CeleryWorker("integrations")
    try:
        worker.start(timeout=90)  # inside try: a slow start never leaves a worker behind
        approve(actor=user, execution=execution)

        def finished():
            row = PendingToolExecution.objects.get(pk=execution.pk)
            return row if row.status in ("executed", "failed") else None

        row = wait_for(finished, timeout=30, message="the worker to execute the approved call")
    finally:
        worker.stop()
    assert row.status == "executed", row.error
    assert row.result["arguments"] == {"title": "Bug"}
    assert saas.calls["GITHUB_CREATE_ISSUE"] == 1
    assert ToolExecutionLog.objects.get(pending_execution=execution).status == "success"


def test_a_worker_killed_mid_call_is_reaped_without_a_second_provider_call(worker_env, user):
    saas = worker_env
    saas.mode, saas.delay = "slow", 60  # the provider holds the call until released
    execution = _pending(user)
    worker = CeleryWorker("integrations-kill")
    try:
        worker.start(timeout=90)
        approve(actor=user, execution=execution)
        wait_for(
            lambda: saas.calls["GITHUB_CREATE_ISSUE"] == 1,
            timeout=30,
            message="the call to reach the provider",
        )
        worker.kill()
    finally:
        worker.stop()
    saas.release.set()
    row = PendingToolExecution.objects.get(pk=execution.pk)
    assert row.status == "executing"
    PendingToolExecution.objects.filter(pk=row.pk).update(executing_at=timezone.now() - timedelta(hours=1))
    assert reap_stale_executions() == 1
    row.refresh_from_db()
    assert row.status == "failed" and "not retried" in row.error
    assert execute_pending(execution_id=row.pk).status == "failed"  # a redelivered message does nothing
    assert saas.calls["GITHUB_CREATE_ISSUE"] == 1
    assert list(ToolExecutionLog.objects.filter(pending_execution=row).values_list("status", flat=True)) == [
        "error"
    ]
