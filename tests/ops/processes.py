"""Real uvicorn, Celery worker and beat processes on the test's PostgreSQL and Redis.

Like ``tests.live.celery_worker_process`` but several at once, each in its
own session with its output collected, for the scale-out and shutdown tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import httpx
from django.conf import settings

from tests.live import ROOT, free_port, wait_for, worker_env


class Process:
    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.lines: list[str] = []
        self._signalled = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=ROOT,
            env=env or worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        def seen():
            if any(text in line for line in self.lines):
                return True
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) before {text!r}:\n{self.output}"
                )
            return False

        wait_for(seen, timeout=timeout, interval=0.02, message=f"{text!r} from {self.name}")

    def terminate(self) -> None:
        if self.proc.poll() is None and not self._signalled:
            self._signalled = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int:
        self.terminate()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise AssertionError(f"{self.name} did not stop within {timeout}s:\n{self.output}") from None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)


def uvicorn() -> tuple[Process, str]:
    """Started, not yet answering: see ``wait_for_web``."""
    port = free_port()
    process = Process(
        f"web:{port}",
        [
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "on",  # as the Procfile: the shutdown closes the async Redis pools
            "--ws",
            "websockets-sansio",
            "--log-level",
            "warning",
        ],
    )
    return process, f"http://127.0.0.1:{port}"


def wait_for_web(process: Process, url: str) -> None:
    def up():
        if process.proc.poll() is not None:
            raise AssertionError(f"uvicorn exited:\n{process.output}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=90, interval=0.1, message="uvicorn to answer /healthz")


def celery_worker(label: str, *, pool: str = "solo", concurrency: int = 1) -> Process:
    return Process(
        label,
        [
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "info",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{label}-{settings.REDIS_DB}@%h",
        ],
    )


def celery_beat(*, max_interval: int = 1, loglevel: str = "info") -> Process:
    return Process(
        "beat",
        [
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel",
            loglevel,
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--max-interval",
            str(max_interval),
        ],
    )


def wait_for_workers(*labels: str) -> None:
    from config.celery import app

    wanted = {f"{label}-{settings.REDIS_DB}@" for label in labels}

    def answering():
        replies = app.control.ping(timeout=0.5) or []
        names = {name for reply in replies for name in reply}
        return all(any(name.startswith(w) for name in names) for w in wanted)

    wait_for(answering, timeout=60, interval=0.2, message=f"workers {sorted(wanted)} to answer ping")
