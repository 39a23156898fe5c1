"""Drive ``scripts/colony.py`` as a user would: a subprocess in its own session.

Each launcher gets its own data directory and free ports, never the
checkout's ``.data/``. ``processes_of`` finds everything a launcher started:
its descendants and the embedded services, which are not descendants
(pg_ctl detaches PostgreSQL; a reused server was started by an earlier run),
found by their working directory inside the data directory.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil

from tests.live import ROOT, free_port, wait_for

SCRIPT = ROOT / "scripts" / "colony.py"

# what the test process has that a user's shell would not
_DROP = {
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_DB",
    "DJANGO_SETTINGS_MODULE",
    "MEDIA_ROOT",
    "CELERY_TASK_ALWAYS_EAGER",
    "PORT",
    "HOST",
}


def private_data_dir() -> Path:
    """A data directory outside pytest's basetemp, which concurrent pytest sessions prune."""
    return Path(tempfile.mkdtemp(prefix="colony-ops-"))


def launcher_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP and not k.startswith("PYTEST_")}
    env.update(
        {
            "COLONY_DATA_DIR": str(data_dir),
            "PORT": str(free_port()),
            "COLONY_ADMIN_PASSWORD": "launcher-test-password",
            "CELERY_LOG_LEVEL": "warning",
        }
    )
    env.update(extra)
    return env


class Launcher:
    def __init__(self, command: str, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), command, *args],
            cwd=ROOT,
            env=env,
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def wait_for_line(self, text: str, timeout: float = 120) -> str:
        def seen():
            if self.proc.poll() is not None and not any(text in line for line in self.lines):
                self._reader.join(2)
                raise AssertionError(
                    f"launcher exited ({self.proc.returncode}) before {text!r}:\n{self.output}"
                )
            return next((line for line in self.lines if text in line), None)

        return wait_for(seen, timeout=timeout, interval=0.1, message=f"{text!r} in the launcher's output")

    def signal(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)  # its process group, as systemd or a closed terminal does

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill_everything(self, data_dir: Path) -> list[psutil.Process]:
        """SIGKILL the launcher, its children and the embedded services: a power cut."""
        procs = processes_of(self.proc.pid, data_dir)
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        assert_gone(procs, timeout=10)
        self.proc.wait(5)
        return procs


def seed_schema(data_dir: Path) -> None:
    """Start the embedded services once and copy this test database's schema into them.

    A fresh cluster's first ``migrate`` takes minutes on a loaded machine; with
    the schema (and ``django_migrations``) copied from the already migrated
    test database, the launcher's own ``migrate`` has nothing left to do.
    """
    import signal as signals

    from django.db import connections

    launcher = Launcher("services", launcher_env(data_dir))
    try:
        url_line = launcher.wait_for_line("DATABASE_URL=", timeout=120)
        launcher.wait_for_line("services running", timeout=30)
        socket_dir = url_line.split("host=", 1)[1].strip()
        db = connections["default"].settings_dict  # the test database (pytest-django's NAME)
        source = ["-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432), "-U", db["USER"]]
        env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
        bin_dir = Path(importlib.util.find_spec("pgserver").origin).parent / "pginstall" / "bin"
        dump = [str(bin_dir / "pg_dump"), *source, "--no-owner", "--no-privileges", db["NAME"]]
        schema = subprocess.run([*dump, "--schema-only"], env=env, capture_output=True, check=True).stdout
        applied = subprocess.run(
            [*dump, "--data-only", "-t", "django_migrations"], env=env, capture_output=True, check=True
        ).stdout
        # the embedded build has no contrib extensions (the migration adds trigram indexes only where there
        # are), and the source server's own column options ("SET (pg_attver=…)") mean nothing to it
        schema = b"\n".join(
            line
            for line in schema.splitlines()
            if b"trgm" not in line and not (b" ALTER COLUMN " in line and b" SET (" in line)
        )
        psql = [
            str(bin_dir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            socket_dir,
            "-U",
            "postgres",
        ]
        restored = subprocess.run([*psql, "colony"], input=schema + b"\n" + applied, capture_output=True)
        assert restored.returncode == 0, restored.stderr.decode()
    finally:
        launcher.signal(signals.SIGTERM)
        launcher.wait(30)


def processes_of(launcher_pid: int | None, data_dir: Path) -> list[psutil.Process]:
    found: dict[int, psutil.Process] = {}
    try:
        if launcher_pid:
            root = psutil.Process(launcher_pid)
            for proc in [root, *root.children(recursive=True)]:
                found[proc.pid] = proc
    except psutil.NoSuchProcess:
        pass
    data_dir = data_dir.resolve()
    for proc in psutil.process_iter():
        try:
            cwd = Path(proc.cwd()).resolve()
        except (psutil.Error, OSError):
            continue
        if cwd == data_dir or data_dir in cwd.parents:
            found[proc.pid] = proc
    return list(found.values())


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_gone(procs: list[psutil.Process], timeout: float) -> None:
    def all_gone():
        return not [p for p in procs if _running(p)]

    try:
        wait_for(all_gone, timeout=timeout, interval=0.1, message="every started process to exit")
    except AssertionError:
        alive = [(p.pid, p.name(), p.cmdline()[:4]) for p in procs if _running(p)]
        raise AssertionError(f"still running after {timeout}s: {alive}") from None


def kill_leftovers(launcher: Launcher | None, data_dir: Path) -> None:
    """Teardown: whatever a failed test left behind (only our own processes; ``None``: the data directory's)."""
    for proc in processes_of(launcher.proc.pid if launcher else None, data_dir):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    if launcher is None:
        return
    if launcher.proc.poll() is None:
        launcher.proc.kill()
    launcher.proc.wait(5)


__all__ = [
    "Launcher",
    "assert_gone",
    "kill_leftovers",
    "launcher_env",
    "private_data_dir",
    "processes_of",
    "signal",
]
