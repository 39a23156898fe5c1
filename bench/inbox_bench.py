#!/usr/bin/env python
"""Inbox delivery next to a bare upsert loop, and the inbox read path of a user with 100,000 items.

    .venv/bin/python bench/inbox_bench.py [--n 1000] [--rounds 3] [--online-percent 10] [--items 100000]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded
   services otherwise), creates and migrates a scratch database
   ``colony_inbox_bench`` and uses Redis database 12 (both wiped first; the
   database is dropped at the end unless ``--keep-db``).
2. Storm: one post, N distinct actors react, each reaction its own request
   (autocommit): N calls of ``deliver_inbox_item``, the public service every
   domain calls — each one prepared upsert statement (which reads the
   recipient's settings, the blocks and the item's prior state) and one
   presence read in Redis (the owner has no socket) — aggregate into ONE
   item. Bare: N ``INSERT … ON CONFLICT DO UPDATE`` statements on the same
   table and index, each in autocommit. Both also report the client's CPU
   per item (``time.process_time``, median round).
3. Fan-out: a mention of N group members in one message (one transaction):
   N calls of ``deliver_inbox_item`` — one block query, one upsert of N rows,
   the in-app and digest notification rows (one INSERT), broadcasts to the
   ``--online-percent`` of recipients with a live socket (presence marked in
   Redis; the channel layer's real group_send). Bare: N single-row
   ``INSERT … ON CONFLICT DO UPDATE`` statements in one transaction.
   Rounds are interleaved (ours, bare, ours, …) on emptied tables; the median
   round is reported, items/s and the ratio (target ≥ 0.5).
4. Read path: one user with ``--items`` items (a third unread, some archived
   and snoozed): ``GET /api/v1/inbox-items/unread-count/`` (cached in Redis; also
   measured right after a change, when it is one index-only COUNT) and the first page
   of ``GET /api/v1/inbox-items/`` through the full Django stack (session
   auth, middleware, DRF) in process, p50/p99 over 200 requests each, SQL
   statements per request at page sizes 20 and 100, and the unread count's
   query plan.
"""

from __future__ import annotations

import argparse
import os
import statistics
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
)

SCRATCH_DB = "colony_inbox_bench"
SCRATCH_REDIS_DB = 12

BARE_UPSERT = """
INSERT INTO inbox_inboxitem (id, created_at, updated_at, network_id, recipient_id, kind, actor_id, actor_count,
    actor_ids, target_type, target_id, title, body, target_url, data, requires_action, last_event_at)
VALUES (%s, now(), now(), %s, %s, %s, %s, 1, ARRAY[%s]::uuid[], 'post', %s, %s, '', '', '{}', false, now())
ON CONFLICT (network_id, recipient_id, kind, target_type, target_id) WHERE archived_at IS NULL
DO UPDATE SET actor_id = EXCLUDED.actor_id, actor_count = inbox_inboxitem.actor_count + 1,
    title = EXCLUDED.title, read_at = NULL, last_event_at = EXCLUDED.last_event_at, updated_at = now()
"""


def make_users(network, prefix: str, n: int) -> list:
    from apps.accounts.models import User

    users = [
        User(
            network=network,
            email=f"{prefix}{i}@bench.local",
            handle=f"{prefix}_{i}",
            display_name=f"{prefix} {i}",
        )
        for i in range(n)
    ]
    User.objects.bulk_create(users, batch_size=1000)
    return users


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE notifications_notification, inbox_inboxitem")


def timed(fn) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()`` (CPU: this process only, user + system: the client's own work)."""
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def storm_ours(owner, actors, post) -> None:
    from apps.inbox.services import deliver_inbox_item

    for actor in actors:  # each call is its own request: autocommit, flushed at once
        deliver_inbox_item(
            recipient=owner, kind="reaction", target_type="post", target_id=post, actor=actor,
            title=f"{actor.handle} reacted to your post",
        )  # fmt: skip


def storm_bare(owner, actors, post) -> None:
    from django.db import connection

    from apps.core.ids import uuid7

    with connection.cursor() as cursor:
        for actor in actors:
            cursor.execute(
                BARE_UPSERT,
                [
                    uuid7(),
                    owner.network_id,
                    owner.pk,
                    "reaction",
                    actor.pk,
                    actor.pk,
                    post,
                    f"{actor.handle} reacted",
                ],
            )


def fanout_ours(author, members, message) -> None:
    from django.db import transaction

    from apps.inbox.services import deliver_inbox_item

    with transaction.atomic():  # one message mentioning every member
        for member in members:
            deliver_inbox_item(
                recipient=member, kind="mention", target_type="message", target_id=message, actor=author,
                title=f"{author.handle} mentioned you", target_url=f"/chat/m/{message}",
            )  # fmt: skip


def fanout_bare(author, members, message) -> None:
    from django.db import connection, transaction

    from apps.core.ids import uuid7

    with transaction.atomic(), connection.cursor() as cursor:
        for member in members:
            cursor.execute(
                BARE_UPSERT,
                [
                    uuid7(),
                    author.network_id,
                    member.pk,
                    "mention",
                    author.pk,
                    author.pk,
                    message,
                    "mentioned you",
                ],
            )


def compare(label: str, n: int, rounds: int, ours, bare, check) -> dict:
    results = {"ours": [], "bare": []}
    cpu = {"ours": [], "bare": []}
    for _ in range(rounds):
        reset()
        wall, used = timed(ours)
        results["ours"].append(wall)
        cpu["ours"].append(used)
        check()
        reset()
        wall, used = timed(bare)
        results["bare"].append(wall)
        cpu["bare"].append(used)
    ours_s, bare_s = statistics.median(results["ours"]), statistics.median(results["bare"])
    row = {
        "label": label,
        "ours": n / ours_s,
        "bare": n / bare_s,
        "rounds": results,
        # the client's CPU per item (median round): the deterministic part of the cost
        "cpu_ms": {side: statistics.median(values) * 1000 / n for side, values in cpu.items()},
    }
    row["ratio"] = row["ours"] / row["bare"]
    return row


def seed_items(user, total: int) -> None:
    """``total`` items for one user in one INSERT … SELECT (a third unread, 2% archived, 1% snoozed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO inbox_inboxitem (id, created_at, updated_at, network_id, recipient_id, kind, actor_id,
                actor_count, actor_ids, target_type, target_id, title, body, target_url, data, requires_action,
                action_state, last_event_at, read_at, archived_at, snoozed_until)
            SELECT gen_random_uuid(), t, t, %s, %s,
                (ARRAY['mention','reply','reaction','follow','direct_message'])[1 + g %% 5],
                NULL, 1 + g %% 7, '{}', 'post', gen_random_uuid(), 'Item ' || g, '', '', '{}', false, NULL, t,
                CASE WHEN g %% 3 = 0 THEN NULL ELSE t END,
                CASE WHEN g %% 50 = 0 THEN t END,
                CASE WHEN g %% 100 = 1 THEN now() + interval '1 day' END
            FROM (SELECT g, now() - (g || ' seconds')::interval AS t FROM generate_series(1, %s) g) s
            """,
            [user.network_id, user.pk, total],
        )
        # what autovacuum does to a table this size: statistics and the visibility map (index-only scans)
        cursor.execute("VACUUM ANALYZE inbox_inboxitem")


def read_path(user, iterations: int) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = ["*"]
    client = Client()
    client.force_login(user)
    from apps.inbox.selectors import unread_changed

    out: dict = {}
    for name, url, before in (
        ("unread-count", "/api/v1/inbox-items/unread-count/", None),
        # every request after a change: the cached count is stale, one index-only COUNT
        (
            "unread-count after a change",
            "/api/v1/inbox-items/unread-count/",
            lambda: unread_changed([user.pk]),
        ),
        ("first page (50)", "/api/v1/inbox-items/", None),
        ("first unread page (50)", "/api/v1/inbox-items/?filter=unread", None),
    ):
        for _ in range(20):
            assert client.get(url).status_code == 200
        samples = []
        for _ in range(iterations):
            if before is not None:
                before()
            t0 = time.perf_counter_ns()
            response = client.get(url)
            samples.append(time.perf_counter_ns() - t0)
            assert response.status_code == 200
        samples.sort()
        out[name] = (samples[len(samples) // 2] / 1e6, samples[int(len(samples) * 0.99) - 1] / 1e6)
    queries = {}
    for size in (20, 100):
        with CaptureQueriesContext(connection) as ctx:
            body = client.get(f"/api/v1/inbox-items/?page_size={size}").json()
        queries[size] = (len(ctx.captured_queries), len(body["results"]))
    out["queries"] = queries
    out["unread_count"] = client.get("/api/v1/inbox-items/unread-count/").json()["unread_count"]
    with connection.cursor() as cursor:
        from django.utils import timezone

        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM inbox_inboxitem WHERE recipient_id = %s "
            "AND read_at IS NULL AND archived_at IS NULL AND (snoozed_until IS NULL OR snoozed_until <= %s)",
            [user.pk, timezone.now()],
        )
        out["plan"] = [row[0] for row in cursor.fetchall()]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="actors (storm) and recipients (fan-out)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--online-percent", type=int, default=10, help="fan-out recipients with a live socket"
    )
    parser.add_argument("--items", type=int, default=100_000, help="items of the read-path user")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one round of each of ours")
    args = parser.parse_args()

    services, env = services_and_env("bench.settings")
    env["DEBUG"] = "False"
    database_url = None
    try:
        services.start(env)
        database_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB)
        migrate(env)
        setup_django(env, flush_redis=True)
        from apps.inbox.models import InboxItem
        from apps.networks.selectors import default_network
        from apps.notifications.models import Notification
        from apps.realtime import presence

        network = default_network()
        [owner] = make_users(network, "owner", 1)
        actors = make_users(network, "actor", args.n)
        members = make_users(network, "member", args.n)
        online = members[: args.n * args.online_percent // 100]
        post, message = uuid.uuid4(), uuid.uuid4()

        def check_storm():
            item = InboxItem.objects.get()
            assert item.actor_count == args.n, item.actor_count

        def check_fanout():
            assert InboxItem.objects.count() == args.n
            assert Notification.objects.filter(channel="in_app").count() == args.n

        def keep_online():  # sockets ping every 30 s; presence lasts 90 s
            for member in online:
                presence.mark_connected(member.pk, f"bench-{member.pk}")

        if args.profile:
            import cProfile
            import pstats

            for name, fn in (
                ("storm", lambda: storm_ours(owner, actors, post)),
                ("fan-out", lambda: fanout_ours(actors[0], members, message)),
            ):
                reset()
                keep_online()
                profile = cProfile.Profile()
                profile.runcall(fn)
                print(f"\n--- profile: {name} ---")
                pstats.Stats(profile).sort_stats(os.environ.get("PSORT", "cumulative")).print_stats(45)
            reset()
        keep_online()
        storm = compare(
            f"storm: {args.n} actors react to one post (one request each)",
            args.n, args.rounds,
            lambda: storm_ours(owner, actors, post),
            lambda: storm_bare(owner, actors, post),
            check_storm,
        )  # fmt: skip
        keep_online()
        fanout = compare(
            f"fan-out: a mention of {args.n} members in one message ({len(online)} online)",
            args.n, args.rounds,
            lambda: fanout_ours(actors[0], members, message),
            lambda: fanout_bare(actors[0], members, message),
            check_fanout,
        )  # fmt: skip

        reset()
        [reader] = make_users(network, "reader", 1)
        t0 = time.perf_counter()
        seed_items(reader, args.items)
        seeded = time.perf_counter() - t0
        reads = read_path(reader, args.iterations)

        load = os.getloadavg()[0]
        print(
            f"\ninbox delivery — {args.rounds} interleaved round(s), median; load average {load:.1f} on {os.cpu_count()} CPUs\n"
        )
        print(f"{'case':<72}{'ours/s':>9}{'bare/s':>9}{'ratio':>7}")
        for row in (storm, fanout):
            print(f"{row['label']:<72}{row['ours']:>9.0f}{row['bare']:>9.0f}{row['ratio']:>7.2f}")
            rounds = ", ".join(
                f"{args.n / o:.0f}/{args.n / b:.0f}"
                for o, b in zip(row["rounds"]["ours"], row["rounds"]["bare"], strict=True)
            )
            print(f"{'  rounds (ours/bare items/s)':<72}{rounds}")
            cpu = row["cpu_ms"]
            print(f"{'  client CPU per item, ms (ours/bare)':<72}{cpu['ours']:.3f}/{cpu['bare']:.3f}")
        print(f"\nread path — one user with {args.items:,} items (seeded in {seeded:.1f} s), "
              f"{args.iterations} requests each, full Django stack in process\n")  # fmt: skip
        print(f"{'request':<32}{'p50 ms':>9}{'p99 ms':>9}")
        for name in (
            "unread-count",
            "unread-count after a change",
            "first page (50)",
            "first unread page (50)",
        ):
            p50, p99 = reads[name]
            print(f"{name:<32}{p50:>9.2f}{p99:>9.2f}")
        print(f"unread count: {reads['unread_count']:,}")
        for size, (count, rows) in reads["queries"].items():
            print(f"GET inbox-items/?page_size={size}: {count} SQL statements for {rows} rows")
        print("unread-count plan:")
        for line in reads["plan"]:
            print("   " + line)
        verdicts = [
            ("storm ≥ 0.5 of bare", storm["ratio"] >= 0.5),
            ("fan-out ≥ 0.5 of bare", fanout["ratio"] >= 0.5),
            ("read p99 < 50 ms", all(reads[n][1] < 50 for n in ("unread-count", "first page (50)"))),
            ("constant SQL", reads["queries"][20][0] == reads["queries"][100][0]),
        ]
        print("\n" + "; ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in verdicts))
        return 0
    finally:
        if database_url and not args.keep_db:
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
