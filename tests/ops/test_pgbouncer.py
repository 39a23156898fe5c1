"""PgBouncer in transaction mode in front of PostgreSQL (Debian's ``pgbouncer``; skipped without it).

First what transaction pooling does to a client (session state and
server-side prepared statements leak or collide across clients: why the
platform uses neither), then a slice of the suite — transactions, row and
advisory locks, the inbox hot path, on-commit work, a real worker, a live
socket — run by a pytest whose ``DATABASE_URL`` points at the PgBouncer this
test started (``DATABASE_BEHIND_POOLER=true``). The schema is the test
database's own: nothing is migrated through the pooler.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings

from tests.live import ROOT
from tests.ops import pgbouncer

pytestmark = [
    pytest.mark.pgbouncer,
    pytest.mark.skipif(
        pgbouncer.binary() is None, reason="pgbouncer is not installed (apt-get install pgbouncer)"
    ),
    pytest.mark.timeout(300),
    # the test database set up (and NAME pointed at it); no transaction held open during a test
    pytest.mark.django_db(transaction=True),
]

# what the slice covers: transaction-scoped advisory lock + row locks + concurrent writers (waitlist), the
# inbox upsert's single-event path (prepared server-side only when not behind a pooler) and its on-commit
# fan-out, readiness, a real Celery worker and a live WebSocket receiving a delivered item
SLICE = [
    "tests/ops/pooled_checks.py",
    "tests/invites/test_waitlist.py",
    "tests/inbox/test_delivery.py",
    "tests/core/test_health.py",
    "tests/core/test_celery_worker_live.py::test_worker_runs_enqueued_task",
    "tests/inbox/test_live.py",
]
# the readiness checks of test_health only; the 1000-recipient/-reaction volume tests add time, not coverage
DESELECT = "not schema_generation and not admin_is and not _1000_"


def _test_database() -> dict:
    from django.db import connections

    return connections["default"].settings_dict  # pytest-django's test database (NAME is test_…)


def _server() -> dict:
    db = _test_database()
    host = db.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        pytest.skip("the test database is on a Unix socket; PgBouncer here forwards to TCP")
    return {"server_host": host, "server_port": int(db.get("PORT") or 5432), "user": db["USER"]}


@pytest.fixture
def single_connection_pool():
    bouncer = pgbouncer.PgBouncer(**_server(), pool_size=1).start()
    yield bouncer
    bouncer.stop()


def test_transaction_pooling_shares_session_state_between_clients_but_not_set_local(single_connection_pool):
    name = _test_database()["NAME"]
    with (
        single_connection_pool.connect(name, autocommit=True) as one,
        single_connection_pool.connect(name, autocommit=True) as two,
    ):
        one.execute("SET ops.marker = 'one'")  # session level: stays on the server connection
        assert two.execute("SELECT current_setting('ops.marker', true)").fetchone() == ("one",)
        with one.transaction():
            one.execute("SET LOCAL ops.other = 'one'")  # ends with the transaction
        assert two.execute("SELECT current_setting('ops.other', true)").fetchone() in ((None,), ("",))


def test_server_side_prepared_statements_collide_across_clients(single_connection_pool):
    """Why ``prepare_threshold`` is None behind the pooler (PgBouncer < 1.21 cannot track them)."""
    name = _test_database()["NAME"]
    with (
        single_connection_pool.connect(name, autocommit=True, prepare_threshold=0) as one,
        single_connection_pool.connect(name, autocommit=True, prepare_threshold=0) as two,
    ):
        one.execute("SELECT 1 WHERE %s", [True])
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            two.execute("SELECT 1 WHERE %s", [True])
    with single_connection_pool.connect(name, autocommit=True, prepare_threshold=None) as plain:
        assert plain.execute("SELECT 1 WHERE %s", [True]).fetchone() == (1,)


def test_a_slice_of_the_suite_passes_through_pgbouncer_in_transaction_mode():
    from django.db import connections

    db = _test_database()
    connections.close_all()  # the inner suite flushes tables: no idle connection of ours in its way
    bouncer = pgbouncer.PgBouncer(**_server(), pool_size=4).start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            {
                # pytest-django names the test database test_<NAME>: this one, already migrated
                "DATABASE_URL": bouncer.url(db["NAME"].removeprefix("test_")),
                "DATABASE_BEHIND_POOLER": "true",
                "REDIS_DB": str(settings.REDIS_DB),
                "OPS_PGBOUNCER_PORT": str(bouncer.port),
            }
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                *SLICE,
                "-k",
                DESELECT,
                "-n",
                "0",
                "-q",
                "--timeout",
                "120",
                "--durations=5",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=280,
        )
        lines = (done.stdout + done.stderr).splitlines()
        tail = "\n".join(lines[-40:])
        assert done.returncode == 0, tail
        summary = next(line for line in reversed(lines) if " passed" in line)
        assert "skipped" not in summary and "failed" not in summary and "error" not in summary, tail
        stats = {row[0]: row for row in bouncer.show("STATS")}
        assert db["NAME"] in stats, stats
        transactions = stats[db["NAME"]][1]  # total_xact_count
        assert transactions > 500, stats[db["NAME"]]
    finally:
        bouncer.stop()
