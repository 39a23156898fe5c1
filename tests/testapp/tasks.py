"""Test-only tasks: a real worker records each run so a test can count them."""

from __future__ import annotations

import threading

from celery import shared_task

from apps.core.redis import get_redis, key


def runs_key(token: str) -> str:
    return key("testapp", "runs", token)


@shared_task(name="testapp.record_run", bind=True, ignore_result=True)
def record_run(self, token: str) -> None:
    """Append the worker's name to ``runs_key(token)``: one entry per execution."""
    get_redis().rpush(runs_key(token), self.request.hostname or "eager")


# gates for tasks run eagerly in threads of the test process (see tests/ops/test_celery_state.py)
gates: dict[str, tuple[threading.Event, threading.Event]] = {}


@shared_task(name="testapp.wait_at_gate")
def wait_at_gate(token: str) -> str:
    """Eager only: signals it has started, then waits until the test opens its gate."""
    entered, opened = gates[token]
    entered.set()
    if not opened.wait(10):
        raise TimeoutError(f"gate {token} never opened")
    return token
