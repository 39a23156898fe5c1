"""``scripts/colony.py`` stops everything it started, in order, on any signal, and recovers from SIGKILL.

Each launcher runs as a user would start it, on free ports and a data
directory of its own (embedded PostgreSQL and Redis included); psutil checks
that every process it started is gone afterwards. The module shares one data
directory, initialised once, with the schema copied from the test database
so that the launcher's ``migrate`` is quick (``seed_schema``).
"""

from __future__ import annotations

import shutil
import signal
import textwrap

import httpx
import psutil
import pytest

from tests.live import wait_for
from tests.ops.launcher import (
    Launcher,
    assert_gone,
    kill_leftovers,
    launcher_env,
    private_data_dir,
    processes_of,
    seed_schema,
)

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(480),
    # the test database exists (its schema is copied by seed_schema) even when run alone
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def data_dir(django_db_setup, django_db_blocker):
    path = private_data_dir()
    try:
        with django_db_blocker.unblock():
            seed_schema(path)
        yield path
    finally:
        kill_leftovers(None, path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def launchers(data_dir):
    started: list[Launcher] = []
    yield started
    for launcher in started:
        kill_leftovers(launcher, data_dir)


def _start(launchers, command, env, *args) -> Launcher:
    launcher = Launcher(command, env, *args)
    launchers.append(launcher)
    return launcher


def _names(procs: list[psutil.Process]) -> set[str]:
    names = set()
    for proc in procs:
        try:
            names.add(proc.name())
        except psutil.NoSuchProcess:
            pass
    return names


def test_run_stops_web_beat_worker_then_the_services_on_sigterm_and_leaves_nothing(data_dir, launchers):
    env = launcher_env(data_dir, WEB_CONCURRENCY="2", CELERY_CONCURRENCY="1")
    launcher = _start(launchers, "run", env)
    launcher.wait_for_line("all ready", timeout=240)
    assert httpx.get(f"{launcher.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{launcher.url}/readyz").json()["status"] == "ok"
    started = processes_of(launcher.proc.pid, data_dir)
    assert {"postgres", "redis-server"} <= _names(started)
    web = next(p for p in started if "uvicorn" in " ".join(p.cmdline()))
    assert sum("spawn_main" in " ".join(p.cmdline()) for p in web.children()) == 2  # WEB_CONCURRENCY
    worker = next(
        p for p in psutil.Process(launcher.proc.pid).children() if " worker " in " ".join(p.cmdline())
    )
    assert len(worker.children()) == 1  # CELERY_CONCURRENCY: the prefork pool's processes
    ready = [line for line in launcher.lines if "all ready in" in line]
    assert len(ready) == 1 and "2 uvicorn processes" in ready[0] and "1 pool process)" in ready[0]

    launcher.signal(signal.SIGTERM)
    assert_gone(started, timeout=30)
    assert launcher.wait(5) == 128 + signal.SIGTERM

    out = launcher.output
    order = [out.index(f"[colony] stopping {name} ") for name in ("web", "beat", "worker")]
    assert order == sorted(order)
    assert order[-1] < out.index("[colony] stopping the embedded Redis")
    assert order[-1] < out.index("[colony] stopping the embedded PostgreSQL")
    assert "Traceback" not in out
    assert "did not stop" not in out  # nothing needed SIGKILL


def test_services_recover_from_sigkill_of_everything_and_are_reused_after_sigkill_of_the_launcher(
    data_dir, launchers
):
    first = _start(launchers, "services", launcher_env(data_dir))
    first.wait_for_line("services running", timeout=120)
    first.kill_everything(data_dir)  # a power cut: PostgreSQL, Redis and the launcher
    assert (data_dir / "postgres" / "postmaster.pid").exists()
    assert (data_dir / "redis" / "redis.pid").exists()

    second = _start(launchers, "services", launcher_env(data_dir))
    second.wait_for_line("services running", timeout=120)
    postgres_line = next(line for line in second.lines if "postmaster.pid" in line)
    redis_line = next(line for line in second.lines if "redis.pid" in line)
    assert "is gone" in postgres_line and "starting the embedded PostgreSQL fresh" in postgres_line
    assert "is gone" in redis_line and "starting the embedded Redis fresh" in redis_line

    services = [p for p in processes_of(second.proc.pid, data_dir) if p.pid != second.proc.pid]
    psutil.Process(second.proc.pid).kill()  # only the launcher
    second.wait(10)
    assert all(p.is_running() for p in services)

    third = _start(launchers, "services", launcher_env(data_dir))
    third.wait_for_line("services running", timeout=120)
    assert "reusing the embedded PostgreSQL" in third.output
    assert "reusing the embedded Redis" in third.output

    third.signal(signal.SIGHUP)
    assert_gone(services + processes_of(third.proc.pid, data_dir), timeout=30)
    assert third.wait(5) == 128 + signal.SIGHUP


def _waiting_suite(tmp_path, *, ignore_sigint: bool) -> list[str]:
    """A one-test suite that starts a child ignoring SIGINT, then waits to be interrupted."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_wait.py").write_text(
        textwrap.dedent(
            f"""
            import os, signal, subprocess, sys, threading
            from pathlib import Path

            def test_waits_until_interrupted():
                child = subprocess.Popen([sys.executable, "-c",
                    "import signal, threading; signal.signal(signal.SIGINT, signal.SIG_IGN); threading.Event().wait()"])
                if {ignore_sigint!r}:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                Path(os.environ["OPS_MARKER"]).write_text(f"{{os.getpid()}} {{child.pid}}")
                threading.Event().wait()
            """
        )
    )
    return [
        "-c",
        str(tmp_path / "pytest.ini"),
        str(tmp_path / "test_wait.py"),
        "-p",
        "no:django",
        "-p",
        "no:xdist",
    ]


def _pytest_and_child(marker) -> list[psutil.Process]:
    wait_for(lambda: marker.exists() and marker.read_text(), timeout=120, message="the suite to start")
    return [psutil.Process(int(pid)) for pid in marker.read_text().split()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_test_interrupts_pytest_and_stops_what_it_started(data_dir, launchers, tmp_path, signum):
    marker = tmp_path / "started"
    env = launcher_env(data_dir, OPS_MARKER=str(marker))
    launcher = _start(launchers, "test", env, *_waiting_suite(tmp_path, ignore_sigint=False))
    suite = _pytest_and_child(marker)
    started = processes_of(launcher.proc.pid, data_dir)

    launcher.signal(signum)
    assert_gone(started + suite, timeout=30)
    assert launcher.wait(5) == 128 + signum
    assert "KeyboardInterrupt" in launcher.output  # pytest was interrupted the way Ctrl-C does, and reported
    assert "stopping the embedded PostgreSQL" in launcher.output


def test_a_second_signal_kills_what_does_not_stop(data_dir, launchers, tmp_path):
    marker = tmp_path / "started"
    env = launcher_env(data_dir, OPS_MARKER=str(marker))
    launcher = _start(launchers, "test", env, *_waiting_suite(tmp_path, ignore_sigint=True))
    suite = _pytest_and_child(marker)
    started = processes_of(launcher.proc.pid, data_dir)

    launcher.signal(signal.SIGINT)
    launcher.wait_for_line("SIGINT received: stopping")
    assert all(p.is_running() for p in suite)  # this suite ignores the interrupt
    launcher.signal(signal.SIGTERM)
    assert_gone(started + suite, timeout=15)
    assert launcher.wait(5) == 128 + signal.SIGINT
    assert "SIGTERM received again: killing what is left" in launcher.output
