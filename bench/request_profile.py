#!/usr/bin/env python
"""The request path's cost in-process, steady under machine load: CPU and Python calls per request.

    .venv/bin/python bench/request_profile.py [-n 300] [--profile me_key] [--keep-db]

``http_bench.py`` measures req/s over loopback; on a shared, loaded machine
its rounds swing ±30 %. This drives the same middleware and views through
Django's WSGI handler in one thread, no network: CPU ms per request
(``time.thread_time``, median of 3 rounds) and the number of Python function
calls per request (cProfile) — the call count does not move with load, so
it shows what a change to the shared path saved. Endpoints: the bare
``{}`` view, a bare DRF view, DRF + one Redis GET, ``/api/v1/me/`` with a session and with an API
key, and the 50-row ``/api/v1/projects/``. ``--profile <case>`` prints that
case's top functions. Uses the scratch database ``colony_request_profile``
(dropped at the end unless ``--keep-db``) and Redis database 13.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import drop_scratch, migrate, services_and_env, setup_django, use_scratch  # noqa: E402

SCRATCH_DB = "colony_request_profile"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="requests per case and round")
    parser.add_argument("--profile", help="print the top functions of this case")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    services, env = services_and_env("bench.settings")
    env["API_KEY_RATE_LIMIT_PER_MINUTE"] = str(10**9)
    env["DEBUG"] = "False"
    database_url = None
    try:
        services.start(env)
        database_url = use_scratch(env, SCRATCH_DB, 13)
        migrate(env)
        os.environ.update(env)
        setup_django(env, flush_redis=True)
        return run(args)
    finally:
        if database_url and not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()


def run(args: argparse.Namespace) -> int:
    import gc

    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client

    from bench import http_bench

    _, token = http_bench.prepare_data()
    client = Client(HTTP_HOST="localhost")
    response = client.post("/accounts/login/", {"login": http_bench.EMAIL, "password": http_bench.PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"login failed: {response.status_code}")
    session = client.cookies["sessionid"].value
    app = WSGIHandler()
    gc.collect()
    gc.freeze()  # as the ASGI entry point does after start-up

    def call(path: str, headers: dict[str, str]) -> str:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "localhost",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
            **headers,
        }
        status = []
        body = app(environ, lambda s, h, exc=None: status.append(s))
        b"".join(body)
        body.close()
        return status[0]

    cases = {
        "bare": ("/bench/bare", {}),
        "drf": ("/bench/drf", {}),
        "drf_redis": ("/bench/drf-redis", {}),
        "me_session": ("/api/v1/me/", {"HTTP_COOKIE": f"sessionid={session}"}),
        "me_key": ("/api/v1/me/", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        "projects_50": ("/api/v1/projects/", {"HTTP_COOKIE": f"sessionid={session}"}),
    }
    for name, (path, headers) in cases.items():
        status = call(path, headers)
        if not status.startswith("200"):
            raise SystemExit(f"{name}: {status}")
    cpu: dict[str, list[float]] = {}
    for _ in range(3):
        for name, (path, headers) in cases.items():
            start = time.thread_time()
            for _ in range(args.n):
                call(path, headers)
            cpu.setdefault(name, []).append((time.thread_time() - start) / args.n * 1000)
    calls = {}
    for name, (path, headers) in cases.items():
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(50):
            call(path, headers)
        profile.disable()
        stats = pstats.Stats(profile)
        calls[name] = stats.total_calls / 50
        if name == args.profile:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(os.environ.get("PSORT", "tottime")).print_stats(
                int(os.environ.get("PTOP", "40"))
            )
            print(out.getvalue())
    bare_cpu = statistics.median(cpu["bare"])
    print(
        f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.n} requests per case and round"
    )
    print(f"{'case':<14}{'CPU ms':>8}{'×bare':>7}{'calls':>8}{'×bare':>7}")
    for name in cases:
        ms = statistics.median(cpu[name])
        print(
            f"{name:<14}{ms:>8.3f}{bare_cpu / ms:>7.2f}{calls[name]:>8.0f}{calls['bare'] / calls[name]:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
