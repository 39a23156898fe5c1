"""Bad input to ``scripts/colony.py``: one message naming the problem and the fix, a non-zero exit, nothing started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.live import free_port
from tests.ops.launcher import SCRIPT, launcher_env, private_data_dir, processes_of

EX_UNAVAILABLE, EX_CONFIG = 69, 78


@pytest.fixture
def data_dir():
    path = private_data_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _launch(data_dir, command: str = "run", **env) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), command],
        env=launcher_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done


def _assert_nothing_started(data_dir) -> None:
    assert not (data_dir / "postgres").exists()
    assert not (data_dir / "redis").exists()
    assert processes_of(None, data_dir) == []


def _one_error(done: subprocess.CompletedProcess) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("[colony] error:")]
    assert len(errors) == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return errors[0]


def test_corrupt_local_env_names_the_line_and_the_fix(data_dir):
    (data_dir / "local.env").write_text("SECRET_KEY=abc\nthis line is garbage\n")
    done = _launch(data_dir)
    assert done.returncode == EX_CONFIG
    message = _one_error(done)
    assert "local.env is corrupt: line 2 is not NAME=value" in message
    assert "restore the file" in message and "unreadable" in message
    assert (
        data_dir / "local.env"
    ).read_text() == "SECRET_KEY=abc\nthis line is garbage\n"  # never overwritten
    _assert_nothing_started(data_dir)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"FIELD_ENCRYPTION_KEYS=1:dG9vIHNob3J0\n", "key 1 does not decode to 32 bytes"),
        (b"SECRET_KEY=\n", "SECRET_KEY is empty"),
        (b"SECRET_KEY=a\nSECRET_KEY=b\n", "sets SECRET_KEY a second time"),
    ],
)
def test_other_corruptions_of_local_env(data_dir, content, problem):
    (data_dir / "local.env").write_bytes(content)
    done = _launch(data_dir, "test")
    assert done.returncode == EX_CONFIG
    assert problem in _one_error(done)
    _assert_nothing_started(data_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_data_directory_owned_by_another_user(data_dir):
    os.chown(data_dir, 65534, 65534)  # nobody
    done = _launch(data_dir)
    assert done.returncode == EX_CONFIG
    message = _one_error(done)
    assert f"{data_dir} belongs to" in message
    assert "chown -R" in message and "COLONY_DATA_DIR" in message
    assert not (data_dir / "local.env").exists()
    _assert_nothing_started(data_dir)


def test_web_port_already_taken(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _launch(data_dir, PORT=str(port))
    assert done.returncode == EX_CONFIG
    message = _one_error(done)
    assert f"port {port} on 127.0.0.1 is already taken by pid {os.getpid()}" in message
    assert "PORT=" in message
    _assert_nothing_started(data_dir)


def test_redis_port_already_taken(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _launch(data_dir, "services", COLONY_REDIS_PORT=str(port))
    assert done.returncode == EX_CONFIG
    assert f"port {port} on 127.0.0.1 is already taken" in _one_error(done)
    _assert_nothing_started(data_dir)  # checked before the embedded PostgreSQL starts


def test_database_url_that_refuses(data_dir):
    port = free_port()
    done = _launch(data_dir, DATABASE_URL=f"postgres://colony:hunter2@127.0.0.1:{port}/colony")
    assert done.returncode == EX_UNAVAILABLE
    message = _one_error(done)
    assert f"PostgreSQL at 127.0.0.1:{port} (DATABASE_URL) refuses the connection" in message
    assert "Connection refused" in message and "unset DATABASE_URL" in message
    assert "hunter2" not in done.stdout + done.stderr
    _assert_nothing_started(data_dir)  # the embedded Redis was not started either


def test_redis_url_that_refuses(data_dir):
    port = free_port()
    done = _launch(data_dir, "test", REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert done.returncode == EX_UNAVAILABLE
    message = _one_error(done)
    assert f"Redis at 127.0.0.1:{port} (REDIS_URL) refuses the connection" in message
    _assert_nothing_started(data_dir)


def test_bad_concurrency_setting(data_dir):
    done = _launch(data_dir, WEB_CONCURRENCY="lots")
    assert done.returncode == EX_CONFIG
    assert "WEB_CONCURRENCY='lots' must be a whole number" in _one_error(done)
    _assert_nothing_started(data_dir)
