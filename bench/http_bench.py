#!/usr/bin/env python
"""The shared request path next to a bare Django view: req/s, CPU per request and ratios.

    .venv/bin/python bench/http_bench.py [--duration 10] [--connections 32] [--rounds 3]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded
   services otherwise), creates and migrates a scratch database
   ``colony_http_bench`` on that server and uses Redis database 14 (both
   wiped first; the database is dropped at the end unless ``--keep-db``).
2. Creates a user with a verified email, 50 projects and an API key, starts
   uvicorn (one process, ``bench.asgi``: the project's ASGI app plus a bare
   ``{}`` Django view at ``/bench/bare``) and signs in through the real login
   form (``/accounts/login/``), so the session has its ``UserSession`` row.
3. Drives every endpoint with ``wrk -t1 -c<connections>`` over loopback in
   interleaved rounds — each round runs the bare view, then every endpoint —
   so background load hits them alike, and samples the server process's CPU
   time around each measured run (CPU per request = CPU seconds / requests).
   Two more floors, no targets: a bare DRF view (no authentication) and a DRF
   view that makes one Redis round trip — the least an API-key call can cost.
4. Prints each round (req/s, ratio to that round's bare view, CPU ms per
   request, p50/p99) and the medians against the targets: session ≥ 0.7×,
   API key ≥ 0.8×, the 50-row list ≥ 0.4× of the bare view.

The per-key rate limit is raised so the benchmark never hits it (its Redis
INCR still runs on every request). Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402
    drop_scratch,
    free_port,
    migrate,
    run_wrk,
    services_and_env,
    setup_django,
    start_uvicorn,
    use_scratch,
)

SCRATCH_DB = "colony_http_bench"
SCRATCH_REDIS_DB = 14
EMAIL = "bench@colony.local"
PASSWORD = "bench-password-1234"  # noqa: S105 — a throwaway account in a scratch database
PROJECTS = 50

PATCH_SCRIPT = """
wrk.method = "PATCH"
wrk.body = '{"display_name": "Bench user"}'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    headers: tuple[str, ...] = ()
    script: str | None = None
    target: float | None = None  # minimum req/s ratio to the bare view


def prepare_data() -> tuple[object, str]:
    """The user (verified email, password, 50 projects) and an API key token."""
    from allauth.account.models import EmailAddress

    from apps.accounts.models import User
    from apps.apikeys import services as key_services
    from apps.networks.selectors import default_network
    from apps.projects.services.projects import create_project

    user = User.objects.create_user(
        email=EMAIL, password=PASSWORD, network=default_network(), handle="bench_user"
    )
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
    for i in range(PROJECTS):
        create_project(actor=user, name=f"Bench project {i:02d}")
    issued = key_services.create_api_key(actor=user, name="bench", scopes=["profile:read", "projects:read"])
    return user, issued.token


def login(base: str) -> tuple[str, str]:
    """Sign in through the login form, as a browser does: (sessionid, csrftoken)."""
    import httpx

    from apps.accounts.models import UserSession

    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as http:
        http.get("/accounts/login/").raise_for_status()
        response = http.post(
            "/accounts/login/",
            data={"login": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"Referer": base + "/accounts/login/"},
        )
        if response.status_code != 302 or "sessionid" not in http.cookies:
            raise SystemExit(f"login failed: {response.status_code} {response.text[:300]}")
        session_key, csrf = http.cookies["sessionid"], http.cookies["csrftoken"]
    if not UserSession.objects.filter(session_key=session_key, revoked_at__isnull=True).exists():
        raise SystemExit("login created no UserSession row")
    return session_key, csrf


def check(base: str, case: Case) -> None:
    """One request per endpoint before measuring: every case must answer 200."""
    import httpx

    headers = dict(h.split(": ", 1) for h in case.headers)
    method, body = ("PATCH", '{"display_name": "Bench user"}') if case.script else ("GET", None)
    if body:
        headers["Content-Type"] = "application/json"
    response = httpx.request(method, base + case.path, headers=headers, content=body, timeout=10)
    if response.status_code != 200:
        raise SystemExit(f"{case.label}: {response.status_code} {response.text[:300]}")
    if case.path.startswith("/api/v1/projects/") and len(response.json()["results"]) != PROJECTS:
        raise SystemExit(f"{case.label}: expected {PROJECTS} rows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk warm-up before each run")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--handler",
        choices=("single-hop", "django"),
        default="single-hop",
        help="HTTP handler under test (A/B): ours, or Django's stock ASGIHandler",
    )
    parser.add_argument("--no-gc-freeze", action="store_true", help="A/B: undo the start-up gc.freeze()")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2

    services, env = services_and_env("bench.settings")
    env["API_KEY_RATE_LIMIT_PER_MINUTE"] = str(10**9)  # measure the check, never trip it
    env["DEBUG"] = "False"
    env["BENCH_HANDLER"] = args.handler
    env["BENCH_GC_FREEZE"] = "0" if args.no_gc_freeze else "1"
    server = None
    database_url = None
    workdir = tempfile.TemporaryDirectory(prefix="colony-bench-")
    try:
        services.start(env)
        database_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB)
        migrate(env)
        setup_django(env, flush_redis=True)
        _, token = prepare_data()
        server, base = start_uvicorn(env, free_port())
        session_key, csrf = login(base)
        patch_script = Path(workdir.name) / "patch.lua"
        patch_script.write_text(PATCH_SCRIPT)
        session = (f"Cookie: sessionid={session_key}; csrftoken={csrf}",)
        key = (f"Authorization: Bearer {token}",)
        bare = Case("bare Django view {}", "/bench/bare")
        cases = [
            bare,
            Case("/healthz", "/healthz"),
            Case("bare DRF view {}", "/bench/drf"),
            Case("DRF + 1 Redis GET (floor)", "/bench/drf-redis"),
            Case("GET /api/v1/me/ (session)", "/api/v1/me/", session, target=0.7),
            Case("GET /api/v1/me/ (API key)", "/api/v1/me/", key, target=0.8),
            Case(f"GET /api/v1/projects/ ({PROJECTS} rows)", "/api/v1/projects/", session, target=0.4),
            Case(
                "PATCH /api/v1/me/ (session)",
                "/api/v1/me/",
                (*session, f"X-CSRFToken: {csrf}"),
                script=str(patch_script),
            ),
        ]
        for case in cases:
            check(base, case)

        rounds: list[dict[str, dict]] = []
        for _ in range(args.rounds):
            results = {}
            for case in cases:
                results[case.label] = run_wrk(
                    base + case.path,
                    duration=args.duration,
                    connections=args.connections,
                    headers=case.headers,
                    script=case.script,
                    server_pid=server.pid,
                    warmup=args.warmup,
                )
            rounds.append(results)

        load = os.getloadavg()[0]
        print(f"\n$ {shlex.join([Path(sys.executable).name, *sys.argv])}")
        print(
            f"uvicorn, 1 process; wrk -t1 -c{args.connections} -d{args.duration}s over loopback, "
            f"{args.rounds} interleaved round(s); load average {load:.1f} on {os.cpu_count()} CPUs\n"
        )
        header = f"{'endpoint':<34}{'round':>6}{'req/s':>9}{'×bare':>7}{'CPU ms':>8}{'×bare':>7}"
        print(header + f"{'p50 ms':>8}{'p99 ms':>8}{'non-2xx':>9}")
        for i, results in enumerate(rounds, 1):
            floor = results[bare.label]
            for case in cases:
                r = results[case.label]
                print(
                    f"{case.label:<34}{i:>6}{r['rps']:>9.0f}{r['rps'] / floor['rps']:>7.2f}"
                    f"{r['cpu_ms']:>8.2f}{floor['cpu_ms'] / r['cpu_ms']:>7.2f}"
                    f"{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['non_2xx']:>9}"
                )
        print("\nmedians over rounds (ratios per round, then the median)\n")
        print(f"{'endpoint':<34}{'req/s':>9}{'×bare':>7}{'CPU ms':>8}{'×bare':>7}{'target':>8}  verdict")
        failed = False
        for case in cases:
            rps = statistics.median(r[case.label]["rps"] for r in rounds)
            cpu = statistics.median(r[case.label]["cpu_ms"] for r in rounds)
            ratio = statistics.median(r[case.label]["rps"] / r[bare.label]["rps"] for r in rounds)
            cpu_ratio = statistics.median(r[bare.label]["cpu_ms"] / r[case.label]["cpu_ms"] for r in rounds)
            errors = sum(r[case.label]["non_2xx"] for r in rounds)
            verdict = ""
            if case.target is not None:
                ok = ratio >= case.target and not errors
                failed |= not ok
                verdict = "meets" if ok else "MISSES"
            if errors:
                verdict += f" ({errors} non-2xx)"
            target = f"≥{case.target:.1f}" if case.target is not None else ""
            print(
                f"{case.label:<34}{rps:>9.0f}{ratio:>7.2f}{cpu:>8.2f}{cpu_ratio:>7.2f}{target:>8}  {verdict}"
            )
        return 1 if failed else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if database_url and not args.keep_db:
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()
        workdir.cleanup()


if __name__ == "__main__":
    sys.exit(main())
