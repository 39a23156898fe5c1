from __future__ import annotations

import time

import psutil
import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .redis import get_redis
from .tasks import HEARTBEAT_KEY


def _process_started_at() -> float:
    try:
        return psutil.Process().create_time()
    except psutil.Error:
        return time.time()


# /readyz says "starting" rather than "degraded" until the beat heartbeat could
# be late: for CELERY_HEARTBEAT_STALE_SECONDS after this process started.
PROCESS_STARTED_AT = _process_started_at()


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up (no dependency is touched)."""
    return JsonResponse({"status": "ok"})


def _check_postgres() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_redis() -> tuple[dict, dict]:
    started = time.perf_counter()
    try:
        client = get_redis()
        client.ping()
        latency = round((time.perf_counter() - started) * 1000, 2)
        last = client.get(HEARTBEAT_KEY)
    except redis.RedisError as exc:
        return {"ok": False, "error": exc.__class__.__name__}, {"ok": False, "error": "redis unavailable"}
    return {"ok": True, "latency_ms": latency}, _beat_state(last)


def _beat_state(last: bytes | str | None) -> dict:
    now, stale = time.time(), settings.CELERY_HEARTBEAT_STALE_SECONDS
    age = max(0.0, now - float(last)) if last is not None else None
    beat = {
        "ok": age is not None and age <= stale,
        "last_beat_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(last))) if last else None,
        "age_seconds": round(age, 1) if age is not None else None,
    }
    if beat["ok"]:
        return beat
    up = now - PROCESS_STARTED_AT
    beat["starting"] = up < stale
    if beat["starting"]:
        beat["reason"] = (
            f"waiting for the first Celery beat heartbeat ({up:.0f}s since start; late after {stale}s)"
        )
    elif age is None:
        beat["reason"] = f"no Celery beat heartbeat recorded ({up:.0f}s since start; late after {stale}s)"
    else:
        beat["reason"] = f"the last Celery beat heartbeat is {age:.0f}s old (late after {stale}s)"
    return beat


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """PostgreSQL, Redis and Celery beat.

    ``ok`` (200); ``starting`` (503) while no beat heartbeat has arrived yet
    and it is not late; ``degraded`` (200: requests are served, background
    work is late) once it is; ``unavailable`` (503) when a data store is down.
    """
    postgres = _check_postgres()
    redis_state, beat = _check_redis()
    checks = {"postgres": postgres, "redis": redis_state, "celery_beat": beat}
    if not (postgres["ok"] and redis_state["ok"]):
        down = ", ".join(name for name in ("postgres", "redis") if not checks[name]["ok"])
        return JsonResponse({"status": "unavailable", "reason": f"{down} down", "checks": checks}, status=503)
    if beat["ok"]:
        return JsonResponse({"status": "ok", "checks": checks})
    if beat["starting"]:
        return JsonResponse({"status": "starting", "reason": beat["reason"], "checks": checks}, status=503)
    return JsonResponse({"status": "degraded", "reason": beat["reason"], "checks": checks})


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
