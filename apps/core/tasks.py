from __future__ import annotations

import time

from celery import shared_task

from .redis import get_redis, key

HEARTBEAT_KEY = key("celery", "beat", "last")


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat() -> float:
    """Beat's pulse: /readyz reports how long ago it last ran."""
    now = time.time()
    get_redis().set(HEARTBEAT_KEY, f"{now:.3f}")
    return now


@shared_task(name="core.echo")
def echo(value: str) -> str:
    """Round trip used by health checks and the real-worker test."""
    return value


@shared_task(name="core.purge_stale_uploads", ignore_result=True)
def purge_stale_uploads() -> int:
    """Hourly: expired pending, rejected and never-attached uploads (rows and objects)."""
    from .uploads import purge_stale_uploads as purge

    return purge()
