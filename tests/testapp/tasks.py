"""Test-only tasks: a real worker records each run so a test can count them."""

from __future__ import annotations

from celery import shared_task

from apps.core.redis import get_redis, key


def runs_key(token: str) -> str:
    return key("testapp", "runs", token)


@shared_task(name="testapp.record_run", bind=True, ignore_result=True)
def record_run(self, token: str) -> None:
    """Append the worker's name to ``runs_key(token)``: one entry per execution."""
    get_redis().rpush(runs_key(token), self.request.hostname or "eager")
