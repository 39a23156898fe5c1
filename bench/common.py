"""Shared by the benchmarks: scratch databases, a uvicorn server, a logged-in session, wrk runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def services_and_env(settings_module: str) -> tuple[Any, dict[str, str]]:
    """``scripts/colony.py``'s services (embedded ones only where a URL is unset) and the environment.

    Call ``services.start(env)`` before using ``env`` and ``services.stop()`` at the end.
    """
    sys.path.insert(0, str(ROOT / "scripts"))
    import colony

    data = colony.DataDir(colony.DATA)
    data.check()
    env = colony.base_env(settings_module, colony.DATA)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    for name, value in dot_env().items():
        env.setdefault(name, value)
    services = colony.Services(data)
    services.check(env, database_needed=False)
    return services, env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dot_env() -> dict[str, str]:
    """``.env`` values (the scripts read them as settings would)."""
    path = ROOT / ".env"
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                values[name.strip()] = value.strip().strip("'\"")
    return values


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def recreate_database(url: str, name: str, *, drop_only: bool = False) -> None:
    """Drop (and unless ``drop_only`` create) the scratch database ``name`` on ``url``'s server."""
    import psycopg

    admin_url = with_database(url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def use_scratch(env: dict[str, str], database: str, redis_db: int, *, celery: bool = False) -> str:
    """Recreate the scratch database ``database`` and point ``env`` at it and at Redis db ``redis_db``.

    With ``celery`` the broker and result backend use that Redis db too. Returns the database URL
    (for ``drop_scratch``).
    """
    database_url = with_database(env["DATABASE_URL"], database)
    recreate_database(env["DATABASE_URL"], database)
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = with_redis_db(env["REDIS_URL"], redis_db)
    if celery:
        env["CELERY_BROKER_URL"] = env["CELERY_RESULT_BACKEND"] = env["REDIS_URL"]
    return database_url


def migrate(env: dict[str, str], *, bootstrap: bool = True) -> None:
    """``migrate`` the database in ``env`` and, unless told not to, ``bootstrap_colony`` it."""
    manage(env, "migrate", "--noinput", "-v", "0")
    if bootstrap:
        manage(env, "bootstrap_colony")


def setup_django(env: dict[str, str], *, flush_redis: bool = False) -> None:
    """Django in this process, configured by ``env``; with ``flush_redis`` its Redis db is emptied."""
    os.environ.update(env)
    import django

    django.setup()
    if flush_redis:
        from apps.core.redis import get_redis

        get_redis().flushdb()


def drop_scratch(url: str, database: str) -> None:
    """Close this process's Django connections, then drop the scratch database ``database``."""
    from django.db import connections

    connections.close_all()
    recreate_database(url, database, drop_only=True)


def parse_wrk(output: str) -> dict:
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "requests": int(total.group(1)) if total else 0,
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def run_wrk(
    url: str,
    header: str | None = None,
    *,
    duration: int,
    connections: int,
    headers: Sequence[str] = (),
    script: str | Path | None = None,
    server_pid: int | None = None,
    warmup: int = 2,
) -> dict:
    """A warm-up, then the measured run with latency percentiles.

    ``script`` is a wrk Lua file (method, body); with ``server_pid`` the
    result also has the server's CPU time per request (``cpu_ms``) over the
    measured run only.
    """
    base = ["wrk", "-t", "1", "-c", str(connections)]
    for value in ([header] if header else []) + list(headers):
        base += ["-H", value]
    if script:
        base += ["-s", str(script)]
    if warmup:
        subprocess.run([*base, "-d", f"{warmup}s", url], capture_output=True, check=True)
    cpu_before = process_cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run(
        [*base, "-d", f"{duration}s", "--latency", url], capture_output=True, text=True, check=True
    )
    result = parse_wrk(out.stdout)
    if server_pid:
        cpu = process_cpu_seconds(server_pid) - cpu_before
        result["cpu_ms"] = cpu * 1000 / result["requests"] if result["requests"] else float("nan")
    return result


def start_uvicorn(
    env: dict[str, str], port: int, *, app: str = "bench.asgi:application", start_timeout: float = 30
) -> tuple[subprocess.Popen, str]:
    """One uvicorn process serving ``app`` (default ``bench.asgi``); returns once /healthz answers."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
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
    deadline = time.monotonic() + start_timeout
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
