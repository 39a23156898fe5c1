#!/usr/bin/env python
"""Agents: the scheduler's claim throughput, and run_agent's overhead around the LLM call.

    .venv/bin/python bench/agents_bench.py [--tasks 10000] [--claimers 1,2,4] [--runs 50] [--llm-delay-ms 200]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded
   services otherwise), creates and migrates a scratch database
   ``colony_agents_bench`` and uses Redis database 14 (both wiped first; the
   database is dropped at the end unless ``--keep-db``).
2. Scheduler: ``--tasks`` due ``AgentScheduledTask`` rows. For each claimer
   count N, N processes call ``dispatch_due_schedules`` (``SELECT … FOR
   UPDATE SKIP LOCKED`` batches of 500: slot, next ``next_run_at`` from the
   cron, lease, one ``AgentRun`` per slot, one Celery message per run on the
   real Redis broker) until nothing is due; next to it, in the same run, a
   bare loop: N processes running only ``WITH c AS (SELECT … FOR UPDATE SKIP
   LOCKED LIMIT 500) UPDATE … RETURNING`` (the floor of any SKIP LOCKED
   claimer). Prints tasks/s of both and checks zero double runs (every task
   exactly one run, every (task, slot) once).
3. run_agent: a local OpenAI-compatible server (``tests/llm_server.py``)
   answering after ``--llm-delay-ms`` (and after 0 ms); ``--runs`` runs of an
   agent with 200 memory facts, each with the guard, context (pinned +
   recalled memory), the metered call (provider resolution, budget
   reservation, AIUsage row) and the decision, against a bare ``openai`` SDK
   call to the same server. Prints p50 of both and the overhead as a share
   of the run's time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import drop_scratch, migrate, services_and_env, setup_django, use_scratch  # noqa: E402

SCRATCH_DB = "colony_agents_bench"
SCRATCH_REDIS_DB = 14
BATCH = 500

BARE_CLAIM = """
WITH c AS (
    SELECT id FROM agents_agentscheduledtask
    WHERE enabled AND next_run_at <= now() AND (lease_until IS NULL OR lease_until < now())
    ORDER BY next_run_at LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE agents_agentscheduledtask t
SET next_run_at = now() + interval '1 day', lease_until = now() + interval '5 minutes'
FROM c WHERE t.id = c.id
RETURNING t.id
"""


def _claimer(
    env: dict[str, str], mode: str, start: multiprocessing.Event, out: multiprocessing.Queue
) -> None:
    setup_django(env)
    from django.db import connection, transaction

    from apps.agents.services.schedules import dispatch_due_schedules

    claimed: list[str] = []
    connection.ensure_connection()
    out.put(("ready", 0.0, []))  # set up and connected: the timed part starts together
    start.wait()
    t0 = time.perf_counter()
    while True:
        if mode == "bare":
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(BARE_CLAIM, [BATCH])
                ids = [str(row[0]) for row in cursor.fetchall()]
            claimed.extend(ids)
            if not ids:
                break
        else:
            n = dispatch_due_schedules(limit=BATCH)
            claimed.append(str(n))
            if not n:
                break
    out.put((mode, time.perf_counter() - t0, claimed))
    connection.close()


def _reset_tasks() -> None:
    from django.db import connection
    from django.utils import timezone

    from apps.agents.models import AgentRun, AgentScheduledTask
    from apps.core.redis import get_redis

    AgentRun.objects.all().delete()
    AgentScheduledTask.objects.update(
        next_run_at=timezone.now() - timezone.timedelta(minutes=5), lease_until=None, last_status=None
    )
    get_redis().flushdb()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE agents_agentscheduledtask")


def scheduler(env: dict[str, str], tasks: int, claimers: list[int]) -> list[tuple]:
    from django.db import connection
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.agents.models import AgentRun, AgentScheduledTask
    from apps.networks.selectors import default_network

    network = default_network()
    owner, _ = User.objects.get_or_create(
        email="bench-owner@colony.local", defaults={"network": network, "handle": "bench_owner"}
    )
    agents = [
        User.objects.create(
            network=network,
            handle=f"bench_agent_{i}",
            is_ai=True,
            agent_status="active",
            agent_owner_user=owner,
            agent_model="gpt-test",
            agent_timezone="UTC",
        )  # fmt: skip
        for i in range(20)
    ]
    AgentScheduledTask.objects.bulk_create(
        [
            AgentScheduledTask(
                network=network,
                agent=agents[i % len(agents)],
                name=f"task {i}",
                instruction="Report.",
                cron=f"{i % 60} * * * *",
                timezone="UTC",
                next_run_at=timezone.now() - timezone.timedelta(minutes=5),
            )  # fmt: skip
            for i in range(tasks)
        ],
        batch_size=2000,
    )
    connection.close()
    results = []
    ctx = multiprocessing.get_context("spawn")
    for n in claimers:
        for mode in ("bare", "dispatch"):
            _reset_tasks()
            connection.close()
            start, out = ctx.Event(), ctx.Queue()
            procs = [ctx.Process(target=_claimer, args=(env, mode, start, out)) for _ in range(n)]
            for p in procs:
                p.start()
            for _ in procs:  # every process has finished django.setup() and connected
                assert out.get(timeout=300)[0] == "ready"
            t0 = time.perf_counter()
            start.set()
            reports = [out.get(timeout=600) for _ in procs]
            wall = time.perf_counter() - t0
            for p in procs:
                p.join(30)
            if mode == "bare":
                ids = [i for _, _, claimed in reports for i in claimed]
                claimed_total, doubles = len(ids), len(ids) - len(set(ids))
            else:
                claimed_total = sum(int(c) for _, _, claimed in reports for c in claimed)
                runs = list(AgentRun.objects.values_list("scheduled_task_id", "slot_at"))
                per_task = len({t for t, _ in runs})
                doubles = (len(runs) - len(set(runs))) + (len(runs) - per_task)
                assert len(runs) == claimed_total == tasks, (len(runs), claimed_total, tasks)
            results.append((n, mode, claimed_total, wall, doubles))
            connection.close()
    return results


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run_overhead(runs: int, delays_ms: list[int]) -> list[tuple]:
    import openai
    from django.conf import settings
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.agents.models import AgentMemoryFact, AgentRun
    from apps.agents.services.runs import run_agent
    from apps.billing.models import AIProviderConfig, ModelPrice
    from apps.networks.selectors import default_network
    from tests.llm_server import LLMServer, Reply

    settings.AI_PROVIDER_ALLOW_PRIVATE_URLS = True
    settings.AI_PROVIDER_MAX_RETRIES = 0
    server = LLMServer().start()
    network = default_network()
    owner = User.objects.get(email="bench-owner@colony.local")
    AIProviderConfig.objects.create(
        network=network, scope="user", owner_user=owner, name="local", base_url=server.url, api_key="sk-bench-000000000000",
        default_model="gpt-test", is_default=True,
    )  # fmt: skip
    ModelPrice.objects.create(
        provider="openai", model="gpt-test", input_per_mtok_micros=2_500_000, output_per_mtok_micros=10_000_000,
        effective_at=timezone.now() - timezone.timedelta(days=1),
    )  # fmt: skip
    agent = User.objects.create(
        network=network, handle="bench_runner", is_ai=True, agent_status="active", agent_owner_user=owner,
        agent_model="gpt-test", agent_timezone="UTC", agent_autonomy="autonomous", agent_system_prompt="You report.",
        agent_daily_budget_micros=10**12,
    )  # fmt: skip
    topics = ["billing", "deploys", "reviews", "roadmap", "oncall", "tests", "docs", "security"]
    AgentMemoryFact.objects.bulk_create(
        [
            AgentMemoryFact(
                network=network,
                agent=agent,
                content=f"Fact {i} about {topics[i % 8]}: the team agreed item {i}.",
                pinned=i < 3,
                importance=1 + i % 5,
            )  # fmt: skip
            for i in range(200)
        ]
    )
    sdk = openai.OpenAI(base_url=server.url, api_key="sk-bench", max_retries=0)
    results = []
    for delay in delays_ms:
        server.responder = lambda payload, d=delay: Reply(
            content="Report: all green.", usage=(400, 20, 0), delay=d / 1000
        )
        for _ in range(5):  # warm connections and caches
            sdk.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "warm"}])
            run_agent(
                run=AgentRun.objects.create(
                    network=network, agent=agent, trigger="api", instruction="warm up"
                )
            )
        bare, total, llm = [], [], []
        for i in range(runs):
            t0 = time.perf_counter()
            sdk.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "What changed in billing?"}]
            )
            bare.append((time.perf_counter() - t0) * 1000)
            run = AgentRun.objects.create(
                network=network,
                agent=agent,
                trigger="api",
                instruction=f"What changed in billing and deploys today? ({i})",
            )
            t0 = time.perf_counter()
            done = run_agent(run=run)
            total.append((time.perf_counter() - t0) * 1000)
            assert done.status == "succeeded", (done.error_code, done.error)
            llm.append(done.ai_usage.latency_ms)
        if os.environ.get("AGENTS_BENCH_PROFILE"):
            import cProfile
            import pstats

            run = AgentRun.objects.create(
                network=network, agent=agent, trigger="api", instruction="profile billing"
            )
            profiler = cProfile.Profile()
            profiler.runcall(run_agent, run=run)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        p50_total, p50_bare, p50_llm = (
            statistics.median(total),
            statistics.median(bare),
            statistics.median(llm),
        )
        overhead = p50_total - p50_bare
        results.append(
            (delay, p50_bare, p50_llm, p50_total, _percentile(total, 0.99), overhead, overhead / p50_total)
        )
    server.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--claimers", default="1,2,4")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--llm-delay-ms", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    services, env = services_and_env("bench.settings")
    env["DEBUG"] = "False"
    database_url = None
    try:
        services.start(env)
        database_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB, celery=True)
        migrate(env)
        setup_django(env, flush_redis=True)
        claimers = [int(n) for n in args.claimers.split(",") if n.strip()]
        sched = scheduler(env, args.tasks, claimers)
        overhead = run_overhead(args.runs, [0, args.llm_delay_ms])
        load = os.getloadavg()[0]
        print(
            f"\nscheduler: {args.tasks} due tasks, batches of {BATCH}; load average {load:.1f} on {os.cpu_count()} CPUs\n"
        )
        print(f"{'claimers':>8}  {'loop':<34}{'claimed':>9}{'seconds':>9}{'tasks/s':>10}{'double runs':>13}")
        labels = {
            "bare": "bare SKIP LOCKED claim+mark",
            "dispatch": "dispatch_due_schedules (runs+queue)",
        }
        for n, mode, claimed, wall, doubles in sched:
            print(f"{n:>8}  {labels[mode]:<34}{claimed:>9}{wall:>9.2f}{claimed / wall:>10.0f}{doubles:>13}")
        print(
            f"\nrun_agent around the LLM call: {args.runs} runs each, 200 memory facts, local OpenAI-compatible server\n"
        )
        print(
            f"{'LLM delay':>9}{'bare SDK p50':>14}{'LLM latency p50':>17}{'run_agent p50':>15}{'p99':>9}{'overhead':>10}{'share':>8}"
        )
        for delay, bare, llm, total, p99, over, share in overhead:
            print(
                f"{delay:>7}ms{bare:>12.1f}ms{llm:>15.1f}ms{total:>13.1f}ms{p99:>7.1f}ms{over:>8.1f}ms{share:>8.1%}"
            )
        return 0
    finally:
        if database_url and not args.keep_db:
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
