#!/usr/bin/env python
"""HTTP throughput and latency of /healthz and /api/v1/me/ next to a bare Django view.

    .venv/bin/python bench/http_bench.py [--duration 10] [--connections 32]

Starts uvicorn (one process, the project's ASGI app with a bare `{}` view
added) against DATABASE_URL/REDIS_URL or the embedded services, creates a
user and a session, and drives each endpoint with `wrk` over loopback
(install: apt-get install wrk). Prints requests/s and p50/p99 latency.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import colony  # noqa: E402  (scripts/colony.py: embedded services)

from bench.common import logged_in_session, run_wrk, start_uvicorn  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is required: apt-get install wrk", file=sys.stderr)
        return 2

    env = colony.base_env("bench.settings")
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    services = colony.Services()
    server = None
    try:
        services.start(env)
        colony.manage(env, "migrate", "--noinput", "-v", "0")
        colony.manage(env, "bootstrap_colony")
        os.environ.update(env)
        import django

        django.setup()
        from apps.accounts.models import User
        from apps.networks.selectors import default_network

        user, _ = User.objects.get_or_create(
            email="bench@colony.local", defaults={"network": default_network(), "handle": "bench_user"}
        )
        cookie = f"sessionid={logged_in_session(user)}"
        server, base = start_uvicorn(env, args.port or colony._free_port())

        cases = [
            ("bare Django view {}", "/bench/bare", None),
            ("/healthz", "/healthz", None),
            ("/api/v1/me/ (session)", "/api/v1/me/", cookie),
        ]
        results = []
        for label, path, cookie_header in cases:
            header = f"Cookie: {cookie_header}" if cookie_header else None
            results.append(
                (label, run_wrk(base + path, header, duration=args.duration, connections=args.connections))
            )

        print(f"\nuvicorn, 1 process; wrk -t1 -c{args.connections} -d{args.duration}s over loopback\n")
        print(f"{'endpoint':<26}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for label, r in results:
            print(f"{label:<26}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}")
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
