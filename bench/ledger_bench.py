#!/usr/bin/env python
"""Ledger transfers per second: ``post_transfer`` next to a bare SQL transfer, in the same run.

    .venv/bin/python -u bench/ledger_bench.py [--transfers 2000] [--writers 1,8] [--keep-db | --reuse-db]

Uses DATABASE_URL / REDIS_URL (environment or ``.env``), creates and migrates a scratch
database ``colony_ledger_bench`` (Redis database 12), dropped at the end unless ``--keep-db``.

W writer processes post ``--transfers`` / W transfers of 1 minor unit (payout_reserve:
balance → payout_clearing), on W distinct balances and on one shared balance, two ways:

- ``bare``: the same work in hand-written SQL, one transaction per transfer —
  ``SELECT … FOR UPDATE`` the balance, ``INSERT`` the ledger row, ``UPDATE`` the cached amount;
- ``post_transfer``: the real writer (the lock, the idempotency replay check after it, the
  funds check, the insert — with the append-only trigger and the shape CHECKs — and the
  ``F()`` update, then the refreshed account).

Prints transfers/s of both, the ratio, the load average, and checks the ledger reconciles.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    drop_scratch,
    migrate,
    services_and_env,
    setup_django,
    use_scratch,
    with_database,
    with_redis_db,
)
from bench.dispatcher_bench import _run_procs  # noqa: E402 — the shared ready/start/report harness

SCRATCH_DB = "colony_ledger_bench"
SCRATCH_REDIS_DB = 12

BARE_LOCK = "SELECT available_minor FROM bounties_agentbalance WHERE id = %s FOR UPDATE"
BARE_INSERT = """
INSERT INTO bounties_treasurytransaction
    (id, created_at, updated_at, network_id, kind, asset, amount_minor, from_balance_id, to_system,
     group_id, idempotency_key, memo)
VALUES (%s, now(), now(), %s, 'payout_reserve', 'USD', 1, %s, 'payout_clearing', %s, %s, '')
"""
BARE_UPDATE = """
UPDATE bounties_agentbalance
SET available_minor = available_minor - 1, lifetime_out_minor = lifetime_out_minor + 1
WHERE id = %s
"""


def _writer(env, mode, balance_id, count, start, out) -> None:
    setup_django(env)
    from django.db import connection, transaction

    from apps.bounties.ledger import Transfer, post_transfer
    from apps.bounties.models import AgentBalance

    balance = AgentBalance.objects.get(pk=balance_id)
    network_id = balance.network_id
    connection.ensure_connection()
    out.put(("ready", 0.0, []))
    start.wait()
    t0 = time.perf_counter()
    for _ in range(count):
        key = f"bench:{uuid.uuid4()}"
        if mode == "bare":
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(BARE_LOCK, [balance_id])
                cursor.fetchone()
                cursor.execute(BARE_INSERT, [uuid.uuid4(), network_id, balance_id, uuid.uuid4(), key])
                cursor.execute(BARE_UPDATE, [balance_id])
        else:
            post_transfer(
                Transfer("payout_reserve", 1, balance, "payout_clearing", key),
                network_id=network_id,
                asset="USD",
            )
    out.put((mode, time.perf_counter() - t0, [count]))
    connection.close()


def run(env, transfers: int, writers: list[int]) -> list[tuple]:
    from django.db import connection

    from apps.accounts.models import User
    from apps.bounties import services
    from apps.networks.selectors import default_network

    network = default_network()
    balances = []
    for i in range(max(writers)):
        person, _ = User.objects.get_or_create(
            network=network, handle=f"bench_ledger_{i}", defaults={"email": f"bench-ledger{i}@colony.local"}
        )
        balance = services.balance_for(network_id=network.pk, asset="USD", owner_user=person)
        services.record_deposit(
            actor=None, balance=balance, amount_minor=10**12, external_ref=f"bench-{person.pk}"
        )
        balances.append(balance)
    connection.close()
    ctx = multiprocessing.get_context("spawn")
    results = []
    for w in writers:
        for shape in ("distinct", "shared"):
            if w == 1 and shape == "shared":
                continue
            for mode in ("bare", "post_transfer"):
                targets = [balances[i].pk if shape == "distinct" else balances[0].pk for i in range(w)]
                reports, wall = _run_procs(
                    ctx, _writer, [(env, mode, targets[i], transfers // w) for i in range(w)]
                )
                done = sum(r[2][0] for r in reports)
                load = os.getloadavg()[0]
                results.append((w, shape, mode, done, wall, load))
                print(
                    f"  {w} × {shape} × {mode}: {done} in {wall:.2f}s ({done / wall:.0f}/s), load {load:.1f}",
                    flush=True,
                )
                connection.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=2_000)
    parser.add_argument("--writers", default="1,8")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse-db", action="store_true", help="use the scratch database left by --keep-db")
    args = parser.parse_args()
    services, env = services_and_env("bench.settings")
    env["DEBUG"] = "False"
    database_url = None
    try:
        services.start(env)
        if args.reuse_db:
            database_url = with_database(env["DATABASE_URL"], SCRATCH_DB)
            env["DATABASE_URL"] = database_url
            env["REDIS_URL"] = env["CELERY_BROKER_URL"] = env["CELERY_RESULT_BACKEND"] = with_redis_db(
                env["REDIS_URL"], SCRATCH_REDIS_DB
            )
        else:
            database_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB, celery=True)
            migrate(env)
        setup_django(env, flush_redis=True)
        rows = run(env, args.transfers, [int(n) for n in args.writers.split(",") if n.strip()])
        from apps.bounties.ledger import reconcile

        report = reconcile()
        print(
            f"\nledger: {args.transfers} transfers per row; {os.cpu_count()} CPUs; reconcile ok = {report['ok']}\n"
        )
        print(
            f"{'writers':>7}  {'balances':<10}{'loop':<15}{'seconds':>9}{'transfers/s':>13}{'vs bare':>9}{'load':>7}"
        )
        bare: dict[tuple, float] = {}
        for w, shape, mode, done, wall, load in rows:
            rate = done / wall
            if mode == "bare":
                bare[(w, shape)] = rate
            ratio = rate / bare[(w, shape)] if (w, shape) in bare else 1.0
            print(f"{w:>7}  {shape:<10}{mode:<15}{wall:>9.2f}{rate:>13.0f}{ratio:>9.2f}{load:>7.1f}")
        return 0 if report["ok"] else 1
    finally:
        if database_url and not args.keep_db:
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
