"""Shared by the benchmarks: a uvicorn server, a logged-in session, wrk runs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


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


def run_wrk(url: str, header: str | None = None, *, duration: int, connections: int) -> dict:
    """A 2 s warm-up, then the measured run with latency percentiles."""
    base = ["wrk", "-t", "1", "-c", str(connections)]
    if header:
        base += ["-H", header]
    subprocess.run([*base, "-d", "2s", url], capture_output=True, check=True)
    out = subprocess.run(
        [*base, "-d", f"{duration}s", "--latency", url], capture_output=True, text=True, check=True
    )
    return parse_wrk(out.stdout)


def start_uvicorn(env: dict[str, str], port: int) -> tuple[subprocess.Popen, str]:
    """One uvicorn process serving ``bench.asgi``; returns once /healthz answers."""
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
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()  # noqa: S310 — loopback
            return server, base
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                raise


def logged_in_session(user: Any) -> str:
    """A real session for ``user`` in the configured session store; returns its key."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.cached_db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key
