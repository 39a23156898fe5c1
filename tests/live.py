"""Real servers for end-to-end tests: uvicorn (HTTP + WebSockets) and a Celery worker.

``live_server_url`` runs the project's ASGI app in uvicorn on a free port in
a thread of the test process (same test database, committed data via
``transactional_db``). ``celery_worker_process`` starts a real ``celery
worker`` process on the test's Redis database and PostgreSQL test database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def signed_in_browser(base_url: str, user, password: str | None = None) -> Iterator[Any]:
    """An ``httpx`` client signed in through the real login form of the live server (session cookie)."""
    import httpx

    from tests.accounts.factories import PASSWORD

    with httpx.Client(base_url=base_url, follow_redirects=False) as browser:
        browser.get("/accounts/login/")
        response = browser.post(
            "/accounts/login/",
            data={
                "login": user.email,
                "password": password or PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": base_url + "/accounts/login/"},
        )
        assert response.status_code == 302, response.text
        yield browser


def wait_for(predicate, *, timeout: float = 15.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class LiveASGIServer:
    def __init__(self) -> None:
        import uvicorn
        from django.conf import settings

        from config.asgi import application

        self.port = free_port()
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
            # as the Procfile: proxy headers only from FORWARDED_ALLOW_IPS (default: nobody)
            forwarded_allow_ips=",".join(settings.FORWARDED_ALLOW_IPS),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> LiveASGIServer:
        self.thread.start()
        wait_for(lambda: self.server.started, message="uvicorn to start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        # A socket closed just before the stop may still be unwinding its channel-layer read
        # (a BZPOPMIN finishes its wait); the process-wide layer would stay bound to this dead
        # loop ("Two event loops are trying to receive()") — the next server gets a fresh one.
        from channels.layers import channel_layers

        channel_layers.backends.clear()


@pytest.fixture
def live_asgi(transactional_db):
    server = LiveASGIServer().start()
    yield server
    server.stop()


def database_url_for_subprocess() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or ""
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={host}"
    return f"postgresql://{auth}@{host or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url_for_subprocess(),
            "REDIS_DB": str(settings.REDIS_DB),
            "CELERY_TASK_ALWAYS_EAGER": "False",
        }
    )
    return env


class CeleryWorker:
    """One real ``celery worker`` process (solo pool) on this test's Redis database and test database."""

    def __init__(self, name: str = "test") -> None:
        self.name = f"{name}-{settings.REDIS_DB}"
        self.log_path = Path(settings.MEDIA_ROOT).parent / f"celery-worker-{self.name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 30) -> CeleryWorker:
        from config.celery import app

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "info",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{self.name}@%h",
            ],
            cwd=ROOT,
            env=worker_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"celery worker exited: {self.log_path.read_text()}")
            replies = app.control.ping(timeout=0.5) or []
            return any(f"{self.name}@" in name for reply in replies for name in reply)

        try:
            wait_for(ready, timeout=timeout, message="the celery worker to answer ping")
        except BaseException:
            self.stop()  # a worker that never answered must not outlive the failed start
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, its unacknowledged message stays with the broker."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._close_log()

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real ``celery worker`` process consuming from this test's Redis database."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    worker = CeleryWorker("test")
    try:
        worker.start()
        yield worker.process
    finally:
        app.conf.task_always_eager = previous
        worker.stop()
