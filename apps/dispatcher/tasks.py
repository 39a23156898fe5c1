"""Dispatcher jobs (thin wrappers over services; arguments are ids)."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": True, "max_retries": 3}


@shared_task(name="dispatcher.tick", ignore_result=True, **_RETRY)
def tick() -> int:
    """Every 15 s: one ``tick_project`` per due dispatcher state."""
    from .services import due_states

    ids = due_states()
    for project_id in ids:
        tick_project.delay(str(project_id))
    return len(ids)


@shared_task(name="dispatcher.tick_project", ignore_result=True, **_RETRY)
def tick_project(project_id: str) -> dict | None:
    """Tick one project (the state row is locked SKIP LOCKED: concurrent ticks do not overlap)."""
    from apps.core.redis import get_redis

    from .services import tick_project as run

    # debounce: signals inserted in a burst wake one tick per 5 s
    if not get_redis().set(f"dispatcher:tick:{project_id}", "1", nx=True, px=5000):
        return None
    return run(project_id)


@shared_task(name="dispatcher.reap_expired_claims", ignore_result=True, **_RETRY)
def reap_expired_claims() -> int:
    from .services import reap_expired_claims as reap

    return reap()


@shared_task(name="dispatcher.run_verification", ignore_result=True, acks_late=True, **_RETRY)
def run_verification(run_id: str, poll: str | None = None) -> str | None:
    from .services import run_verification as run

    return run(run_id, poll=poll)


@shared_task(name="dispatcher.timeout_verifications", ignore_result=True, **_RETRY)
def timeout_verifications() -> int:
    from .services import timeout_verifications as sweep

    return sweep()


@shared_task(name="dispatcher.finalize_accepted", ignore_result=True, **_RETRY)
def finalize_accepted() -> int:
    from .services import finalize_accepted as finalize

    return finalize()
