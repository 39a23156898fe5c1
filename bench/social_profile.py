#!/usr/bin/env python
"""The social feeds' cost in-process over the seeded bench database: CPU, SQL and Python calls per request.

    .venv/bin/python bench/social_profile.py [-n 50] [--profile "home new 20"]

Needs the scratch database ``bench/social_bench.py`` seeds (``colony_social_bench``;
run that once with ``--keep-db``); Redis database 13. Drives every case of
``social_bench`` (ours and the bare one-query view) through Django's test
client in one thread, no network: CPU ms per request (``time.process_time``,
median of 3 rounds of ``-n``), SQL statements per request and Python function
calls per request (cProfile). Unlike wrk's req/s, these barely move with
machine load. ``--profile <case>`` prints that case's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import services_and_env, setup_django, with_database, with_redis_db  # noqa: E402
from bench.social_bench import SCRATCH_DB, SCRATCH_REDIS_DB, cases, subjects  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50, help="requests per case and round")
    parser.add_argument("--profile", help="print the top functions of this case (e.g. 'home new 20')")
    args = parser.parse_args()
    services, env = services_and_env("bench.social_settings")
    env["DEBUG"] = "False"
    try:
        services.start(env)
        env["DATABASE_URL"] = with_database(env["DATABASE_URL"], SCRATCH_DB)
        env["REDIS_URL"] = with_redis_db(env["REDIS_URL"], SCRATCH_REDIS_DB)
        setup_django(env)
        return run(args)
    finally:
        services.stop()


def run(args: argparse.Namespace) -> int:
    import gc

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    s = subjects()
    ours, bare = Client(HTTP_HOST="127.0.0.1"), Client(HTTP_HOST="127.0.0.1")
    ours.force_login(s["reader"])
    gc.collect()
    gc.freeze()
    print(
        f"{'case':<16} {'ours cpu ms':>11} {'sql':>4} {'calls':>7} | {'bare cpu ms':>11} {'calls':>7} | ×bare"
    )
    for size in (20, 100):
        for label, our_path, bare_path in cases(s, size):
            row = []
            for client, path in ((ours, our_path), (bare, bare_path)):
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code, response.content[:300])
                with CaptureQueriesContext(connection) as ctx:
                    client.get(path)
                sql = len(ctx.captured_queries)  # now: the next request resets the log it reads
                rounds = []
                for _ in range(3):
                    start = time.process_time()
                    for _ in range(args.n):
                        client.get(path)
                    rounds.append((time.process_time() - start) * 1000 / args.n)
                profiler = cProfile.Profile()
                profiler.enable()
                client.get(path)
                profiler.disable()
                stats = pstats.Stats(profiler)
                row.append((statistics.median(rounds), sql, stats.total_calls))
                if args.profile and args.profile.split() == label.split() and client is ours:
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(
                        os.environ.get("SORT", "tottime")
                    ).print_stats(int(os.environ.get("TOP", "45")))
                    print(out.getvalue())
            (cpu, sql, calls), (bare_cpu, _bare_sql, bare_calls) = row
            print(f"{label:<16} {cpu:>11.2f} {sql:>4} {calls:>7} | {bare_cpu:>11.2f} {bare_calls:>7} | "
                  f"{cpu / bare_cpu:>5.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
