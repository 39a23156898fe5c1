"""Celery tasks of the invites domain: thin wrappers over ``services`` (arguments are ids)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError
from django.utils.dateparse import parse_datetime

from apps.core.exceptions import DomainError

from . import services

_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": True, "max_retries": 5}
PROGRESS_TTL = 3600


@shared_task(name="invites.release_due_waves", ignore_result=True, **_RETRY)
def release_due_waves() -> int:
    """Every 5 minutes: release each due wave once (a wave another run holds is skipped)."""
    return sum(services.release_wave(wave_id=wave_id) for wave_id in services.due_wave_ids())


@shared_task(name="invites.release_wave", ignore_result=True, **_RETRY)
def release_wave(wave_id: str) -> int:
    return services.release_wave(wave_id=wave_id)


@shared_task(name="invites.repair_scores", ignore_result=True, **_RETRY)
def repair_scores() -> int:
    return services.repair_scores()


@shared_task(name="invites.generate_codes", ignore_result=True)
def generate_codes(job: str, params: dict[str, Any]) -> int:
    """The admin's bulk generation; progress (done/total/state) in the cache under ``invites:bulk:<job>``."""
    from apps.accounts.models import User
    from apps.networks.models import Network

    key = f"invites:bulk:{job}"
    total = int(params["count"])

    def progress(done: int, _total: int) -> None:
        cache.set(key, {"done": done, "total": total, "state": "running"}, PROGRESS_TTL)

    try:
        made, _codes = services.generate_codes(
            actor=User.objects.get(pk=params["actor_id"]),
            network=Network.objects.get(pk=params["network_id"]),
            count=total,
            kind=params["kind"],
            max_uses=int(params["max_uses"]),
            expires_at=parse_datetime(params["expires_at"]) if params.get("expires_at") else None,
            grants=params.get("grants") or None,
            note=params.get("note") or "",
            progress=progress,
            collect=False,
        )
    except DomainError as exc:
        cache.set(key, {"done": 0, "total": total, "state": "failed", "error": exc.message}, PROGRESS_TTL)
        return 0
    cache.set(key, {"done": made, "total": total, "state": "done"}, PROGRESS_TTL)
    return made
