"""A real PgBouncer (Debian's ``pgbouncer`` binary) in transaction mode in front of the test's PostgreSQL.

``PgBouncer.start()`` writes a config into a private directory, starts the
binary in the foreground on a free port and waits until it answers; with a
pool of two server connections per database and user, consecutive
transactions of one client really land on different server connections, so
anything that relies on session state shows. Skipped where the binary is absent.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.live import free_port, wait_for


def binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


class PgBouncer:
    def __init__(self, *, server_host: str, server_port: int, user: str, pool_size: int = 2) -> None:
        self.server_host, self.server_port, self.user = server_host, server_port, user
        self.pool_size = pool_size
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="colony-pgbouncer-"))
        self.process: subprocess.Popen | None = None

    @property
    def log(self) -> str:
        try:
            return (self.directory / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url(dbname), connect_timeout=5, **kwargs)

    def start(self) -> PgBouncer:
        executable = binary()
        assert executable, "pgbouncer is not installed"
        (self.directory / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={self.server_host} port={self.server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\n"
            # psycopg may send it; PgBouncer would refuse the client otherwise
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n"
            f"admin_users = {self.user}\n"
        )
        argv = [executable]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: as the PostgreSQL system user, else nobody
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                account = pwd.getpwnam("nobody")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            argv += ["-u", account.pw_name]
        for path in self.directory.iterdir():
            path.chmod(0o644)
        self.directory.chmod(0o755)
        argv.append(str(self.directory / "pgbouncer.ini"))
        self.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )

        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"pgbouncer exited ({self.process.returncode}):\n{self.log}")
            try:
                psycopg.connect(self.url("pgbouncer"), connect_timeout=2, autocommit=True).close()
                return True
            except psycopg.OperationalError:
                return False

        wait_for(answers, timeout=20, interval=0.05, message="pgbouncer to answer")
        return self

    def show(self, what: str) -> list[tuple]:
        """The admin console's ``SHOW <what>`` (simple protocol only)."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True, prepare_threshold=None) as admin:
            return admin.cursor().execute(f"SHOW {what}", prepare=False).fetchall()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)
