#!/usr/bin/env python
"""API-key authentication cost: HTTP throughput next to sessions, and the in-process check.

    .venv/bin/python bench/apikey_bench.py [--duration 10] [--connections 32] [--iterations 5000]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded
   services otherwise), creates and migrates a scratch database
   ``colony_apikey_bench`` on that server and uses Redis database 15 (both
   wiped first; the database is dropped at the end unless ``--keep-db``).
2. Creates a user, a browser session and an API key (``profile:read``).
3. Starts uvicorn (one process, ``bench.asgi``) on a free port and drives
   ``GET /api/v1/me/`` with ``wrk`` over loopback, with the session cookie
   and with ``Authorization: Bearer`` — same endpoint, same run, interleaved
   rounds so background load hits both alike.
   The per-key rate limit is raised so the benchmark never hits it (the
   limit's Redis INCR still runs on every request).
4. In process, times N calls of ``ApiKeyAuthentication.authenticate`` on a
   real Redis — the warm hot path is one Lua script (cached key and user,
   rate limit, usage count, last-used guard) plus an HMAC compare, no SQL —
   and its parts (plus a session load + ``get_user()`` for comparison), and
   prints p50/p99 in µs. Target: p50 under 1 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402
    drop_scratch,
    free_port,
    logged_in_session,
    migrate,
    run_wrk,
    services_and_env,
    setup_django,
    start_uvicorn,
    use_scratch,
)

SCRATCH_DB = "colony_apikey_bench"
SCRATCH_REDIS_DB = 15
ME = "/api/v1/me/"


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return p50, p99, statistics.fmean(ordered) / 1000


def in_process(token: str, session_key: str, iterations: int) -> list[tuple[str, tuple[float, float, float]]]:
    from django.contrib.auth import get_user
    from django.contrib.sessions.backends.cached_db import SessionStore
    from django.test import RequestFactory
    from rest_framework.request import Request

    from apps.apikeys import hotpath, tokens
    from apps.apikeys.authentication import ApiKeyAuthentication

    factory = RequestFactory()
    auth = ApiKeyAuthentication()
    prefix, secret = tokens.parse(token)
    timings: dict[str, list[int]] = {"authenticate": [], "load": [], "hmac": [], "session": []}
    clock = time.perf_counter_ns
    for _ in range(200):  # warm caches and connections
        auth.authenticate(Request(factory.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")))
    from apps.core.redis import get_redis

    # 1. the check alone, back to back (what a request pays)
    for _ in range(iterations):
        request = Request(factory.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}"))
        t0 = clock()
        auth.authenticate(request)
        timings["authenticate"].append(clock() - t0)
    # 2. its parts, the session path for comparison, and the machine's Redis floor
    redis_client = get_redis()
    timings["ping"] = []
    for _ in range(iterations):
        t1 = clock()
        principal = hotpath.load(prefix, secret_hash=tokens.hash_secret(secret), ip="127.0.0.1")
        t2 = clock()
        tokens.secret_matches(secret, principal.record.secret_hash)
        t3 = clock()
        session_request = factory.get(ME)
        t4 = clock()
        session_request.session = SessionStore(session_key)
        get_user(session_request)
        t5 = clock()
        redis_client.ping()
        t6 = clock()
        timings["load"].append(t2 - t1)
        timings["hmac"].append(t3 - t2)
        timings["session"].append(t5 - t4)
        timings["ping"].append(t6 - t5)
    labels = {
        "authenticate": "ApiKeyAuthentication.authenticate (all)",
        "load": "  key + user + counting: one Redis round trip",
        "hmac": "  HMAC-SHA256 compare",
        "session": "for comparison: session load + get_user()",
        "ping": "machine floor: one Redis PING round trip",
    }
    return [(labels[name], percentiles(samples)) for name, samples in timings.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=5000, help="in-process authenticate() calls")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved wrk rounds per auth method")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2

    services, env = services_and_env("bench.settings")
    env["API_KEY_RATE_LIMIT_PER_MINUTE"] = str(10**9)  # measure the check, never trip it
    env["DEBUG"] = "False"
    server = None
    database_url = None
    try:
        services.start(env)
        database_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB)
        migrate(env)
        setup_django(env, flush_redis=True)
        from apps.accounts.models import User
        from apps.apikeys import services as key_services
        from apps.networks.selectors import default_network

        user, _ = User.objects.get_or_create(
            email="bench@colony.local", defaults={"network": default_network(), "handle": "bench_user"}
        )
        session_key = logged_in_session(user)
        issued = key_services.create_api_key(actor=user, name="bench", scopes=["profile:read"])
        server, base = start_uvicorn(env, free_port())
        for header in (f"Cookie: sessionid={session_key}", f"Authorization: Bearer {issued.token}"):
            name, _, value = header.partition(": ")
            check = urllib.request.Request(base + ME, headers={name: value})
            assert urllib.request.urlopen(check, timeout=5).status == 200, header

        cases = [
            ("session cookie", f"Cookie: sessionid={session_key}"),
            ("API key (Bearer)", f"Authorization: Bearer {issued.token}"),
        ]
        rounds: dict[str, list[dict]] = {label: [] for label, _ in cases}
        for _ in range(args.rounds):  # interleaved, so background load hits both alike
            for label, header in cases:
                rounds[label].append(run_wrk(base + ME, header, **vars_of(args)))
        server.terminate()
        server.wait(10)
        server = None

        micro = in_process(issued.token, session_key, args.iterations)

        load = os.getloadavg()[0]
        print(
            f"\nGET {ME} — uvicorn, 1 process; wrk -t1 -c{args.connections} -d{args.duration}s over loopback, "
            f"{args.rounds} interleaved round(s); load average {load:.1f} on {os.cpu_count()} CPUs\n"
        )
        print(f"{'auth':<22}{'round':>6}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for label, results in rounds.items():
            for i, r in enumerate(results, 1):
                print(
                    f"{label:<22}{i:>6}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}"
                )
        medians = {label: statistics.median(r["rps"] for r in results) for label, results in rounds.items()}
        session_rps, key_rps = medians["session cookie"], medians["API key (Bearer)"]
        ratio = key_rps / session_rps if session_rps else float("nan")
        print(
            f"median req/s: session {session_rps:.0f}, API key {key_rps:.0f} (API key / session = {ratio:.2f})"
        )
        print(f"\nin process, {args.iterations} iterations, real Redis + PostgreSQL\n")
        print(f"{'step':<44}{'p50 µs':>10}{'p99 µs':>10}{'mean µs':>10}")
        for label, (p50, p99, mean) in micro:
            print(f"{label:<44}{p50:>10.0f}{p99:>10.0f}{mean:>10.0f}")
        verdict = "meets" if micro[0][1][0] < 1000 else "MISSES"
        print(f"\nkey check + usage counting p50 {micro[0][1][0]:.0f} µs — {verdict} the 1 ms target")
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if database_url and not args.keep_db:
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()


def vars_of(args: argparse.Namespace) -> dict:
    return {"duration": args.duration, "connections": args.connections}


if __name__ == "__main__":
    sys.exit(main())
