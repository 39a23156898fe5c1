from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .redis import get_redis
from .tasks import HEARTBEAT_KEY


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
    if last is None:
        beat = {"ok": False, "last_beat_at": None, "age_seconds": None, "error": "no beat recorded yet"}
    else:
        age = max(0.0, time.time() - float(last))
        beat = {
            "ok": age <= settings.CELERY_HEARTBEAT_STALE_SECONDS,
            "last_beat_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(last))),
            "age_seconds": round(age, 1),
        }
    return {"ok": True, "latency_ms": latency}, beat


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """PostgreSQL, Redis and Celery beat. 503 when a data store is down."""
    postgres = _check_postgres()
    redis_state, beat = _check_redis()
    ready = postgres["ok"] and redis_state["ok"]
    body = {
        "status": "ok" if ready and beat["ok"] else ("degraded" if ready else "unavailable"),
        "checks": {"postgres": postgres, "redis": redis_state, "celery_beat": beat},
    }
    return JsonResponse(body, status=200 if ready else 503)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
