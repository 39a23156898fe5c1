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
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import colony  # noqa: E402  (scripts/colony.py: embedded services)


def parse_wrk(output: str) -> dict:
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


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
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.cached_db import SessionStore

        from apps.accounts.models import User
        from apps.networks.selectors import default_network

        user, _ = User.objects.get_or_create(
            email="bench@colony.local", defaults={"network": default_network(), "handle": "bench_user"}
        )
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookie = f"sessionid={session.session_key}"

        port = args.port or colony._free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.asgi:application",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        cases = [
            ("bare Django view {}", "/bench/bare", None),
            ("/healthz", "/healthz", None),
            ("/api/v1/me/ (session)", "/api/v1/me/", cookie),
        ]
        results = []
        for label, path, cookie_header in cases:
            cmd = ["wrk", "-t", "1", "-c", str(args.connections), "-d", "2s", base + path]
            if cookie_header:
                cmd[1:1] = ["-H", f"Cookie: {cookie_header}"]
            subprocess.run(cmd, capture_output=True, check=True)  # warm-up
            cmd = [c if c != "2s" else f"{args.duration}s" for c in cmd] + ["--latency"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results.append((label, parse_wrk(out)))

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
