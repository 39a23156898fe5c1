#!/usr/bin/env python
"""Dispatcher: claim throughput against a bare SKIP LOCKED loop (ledger transfers: bench/ledger_bench.py).

    .venv/bin/python bench/dispatcher_bench.py [--tasks 10000] [--claimers 1,4,8]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded services
   otherwise), creates and migrates a scratch database named after DATABASE_URL's
   (``<name>_bench``, so two people on one server do not share it) and uses Redis
   database 13 (both wiped first; the database is dropped at the end unless ``--keep-db``).
2. Claims: ``--tasks`` open, ready tasks in one project. For each claimer count N,
   N processes (agents with a contribute grant) call ``claim_next`` — the service the
   API's claim-next endpoint calls — until nothing is ready: one claim per call, one
   autocommit statement (the claimant lock and active check, the agent's live grant,
   the FOR UPDATE SKIP LOCKED pick of a ready task (stored ``deps_done``), the claim
   limit and funded-escrow check read after the locks, the conditional open → claimed
   with the fence bump, the claim row) — next to, in the same run, a bare loop of N processes
   running only ``WITH c AS (SELECT … WHERE … status = 'open' AND deps_done ORDER BY
   priority, due_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE … RETURNING`` (one
   claim per statement, on the same index as ours: ``roadmaptask_claimable``). Prints
   claims/s of both, the ratio, and the double claims (must be 0).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import drop_scratch, migrate, services_and_env, setup_django, use_scratch  # noqa: E402

SCRATCH_SUFFIX = "_bench"
SCRATCH_REDIS_DB = 13

BARE_CLAIM = """
WITH c AS (
    SELECT id FROM dispatcher_roadmaptask
    WHERE project_id = %s AND status = 'open' AND deps_done
    ORDER BY priority, due_at NULLS LAST, created_at LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE dispatcher_roadmaptask t SET status = 'claimed', lease_seq = lease_seq + 1
FROM c WHERE t.id = c.id
RETURNING t.id
"""


def _claimer(env, mode, agent_id, project_id, start, out) -> None:
    setup_django(env)
    from django.db import connection, transaction

    from apps.accounts.models import User
    from apps.core.exceptions import NotFound
    from apps.dispatcher import services
    from apps.projects.models import Project

    agent, project = User.objects.get(pk=agent_id), Project.objects.get(pk=project_id)
    claimed: list[str] = []
    connection.ensure_connection()
    out.put(("ready", 0.0, []))
    start.wait()
    t0 = time.perf_counter()
    while True:
        if mode == "bare":
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(BARE_CLAIM, [project_id])
                row = cursor.fetchone()
            if row is None:
                break
            claimed.append(str(row[0]))
        else:
            try:
                claimed.append(str(services.claim_next(actor=agent, project=project).task_id))
            except NotFound:
                break
    out.put((mode, time.perf_counter() - t0, claimed))
    connection.close()


def _reset(project_id) -> None:
    from django.db import connection

    from apps.dispatcher.models import RoadmapTask, TaskClaim

    TaskClaim.objects.all().delete()
    RoadmapTask.objects.filter(project_id=project_id).update(status="open")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE dispatcher_roadmaptask")
        cursor.execute("VACUUM ANALYZE dispatcher_taskclaim")


def _run_procs(ctx, target, args_list):
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in args_list]
    for p in procs:
        p.start()
    for _ in procs:
        assert out.get(timeout=300)[0] == "ready"
    t0 = time.perf_counter()
    start.set()
    reports = [out.get(timeout=1200) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(30)
    return reports, wall


def claims(env, tasks: int, claimers: list[int]) -> list[tuple]:
    from django.db import connection

    from apps.accounts.models import User
    from apps.agents.models import AgentProjectAccess
    from apps.dispatcher.models import RoadmapTask
    from apps.networks.selectors import default_network
    from apps.projects.models import Project

    network = default_network()
    owner = User.objects.create(network=network, email="bench-dispatch@colony.local", handle="bench_dispatch")
    project = Project.objects.create(network=network, owner_user=owner, name="bench", slug="bench-dispatch")
    agents = []
    for i in range(max(claimers)):
        agent = User.objects.create(network=network, handle=f"bench_claimer_{i}", is_ai=True, agent_status="active",
                                    agent_owner_user=owner, agent_max_concurrent_claims=32000)  # fmt: skip
        AgentProjectAccess.objects.create(network=network, agent=agent, project=project, role="contribute")
        agents.append(agent)
    RoadmapTask.objects.bulk_create(
        [RoadmapTask(network=network, project=project, title=f"t{i}", status="open", priority=i % 5)
         for i in range(tasks)], batch_size=2000,
    )  # fmt: skip
    connection.close()
    ctx = multiprocessing.get_context("spawn")
    results = []
    for n in claimers:
        for mode in ("bare", "claim_next"):
            _reset(project.pk)
            connection.close()
            reports, wall = _run_procs(
                ctx, _claimer, [(env, mode, agents[i].pk, project.pk) for i in range(n)]
            )
            ids = [t for _, _, claimed in reports for t in claimed]
            load = os.getloadavg()[0]
            results.append((n, mode, len(ids), wall, len(ids) - len(set(ids)), load))
            print(f"  claims: {n} × {mode}: {len(ids)} in {wall:.2f}s ({len(ids) / wall:.0f}/s), "
                  f"doubles {len(ids) - len(set(ids))}, load {load:.1f}", flush=True)  # fmt: skip
            connection.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--claimers", default="1,4,8")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-ledger", action="store_true", help="accepted for old commands: claims only")
    args = parser.parse_args()
    services, env = services_and_env("bench.settings")
    env["DEBUG"] = "False"
    database_url = None
    try:
        services.start(env)
        scratch_db = urlsplit(env["DATABASE_URL"]).path.strip("/") + SCRATCH_SUFFIX
        database_url = use_scratch(env, scratch_db, SCRATCH_REDIS_DB, celery=True)
        migrate(env)
        setup_django(env, flush_redis=True)
        claimer_counts = [int(n) for n in args.claimers.split(",") if n.strip()]
        claim_rows = claims(env, args.tasks, claimer_counts)
        load = os.getloadavg()[0]
        print(
            f"\nclaims: {args.tasks} ready tasks, one claim per call; load average {load:.1f} on {os.cpu_count()} CPUs\n"
        )
        print(
            f"{'claimers':>8}  {'loop':<24}{'claimed':>9}{'seconds':>9}{'claims/s':>10}{'vs bare':>9}{'doubles':>9}"
            f"{'load':>6}"
        )
        bare_rate: dict[int, float] = {}
        for n, mode, claimed, wall, doubles, row_load in claim_rows:
            rate = claimed / wall
            if mode == "bare":
                bare_rate[n] = rate
            ratio = rate / bare_rate[n] if n in bare_rate else 1.0
            print(
                f"{n:>8}  {mode:<24}{claimed:>9}{wall:>9.2f}{rate:>10.0f}{ratio:>9.2f}{doubles:>9}{row_load:>6.1f}"
            )
        return 0
    finally:
        if database_url and not args.keep_db:
            drop_scratch(database_url, scratch_db)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
