#!/usr/bin/env python
"""Stripe webhook intake (verify + insert + enqueue) next to a bare signature-only view, on a live server.

    .venv/bin/python bench/billing_webhook_bench.py [--events 2000] [--concurrency 8] [--rounds 3] [--replays 20]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded
   services otherwise), creates and migrates a scratch database
   ``colony_billing_bench`` and uses Redis database 13 (wiped first; the
   database is dropped at the end unless ``--keep-db``). One uvicorn process
   serves ``bench.billing_settings`` (the project plus ``/bench/bare-stripe``).
2. Intake: ``--events`` distinct events, each signed the real SDK's way
   (``stripe.WebhookSignature.generate_signature_header``), POSTed by
   ``--concurrency`` keep-alive clients to ``/api/v1/webhooks/stripe/`` —
   the signature check, one JSON parse, one ``INSERT … ON CONFLICT DO NOTHING
   RETURNING id`` and the Celery enqueue after commit (no worker runs: the
   queue just fills) —
   and to the bare view, which only runs the SDK's signature check
   (``WebhookSignature.verify_header``). Rounds are interleaved (ours, bare,
   ours, …); the median is reported in events/s, with the server process's
   CPU per event, and the ratio (target ≥ 0.5).
3. Replay: 50 events each delivered ``--replays`` times at once (one thread
   per delivery): exactly one ``accepted`` per event, the rest ``duplicate``,
   one row per event; then every row is processed twice in this process
   (``process_stripe_event``): the second pass must process nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    drop_scratch,
    free_port,
    migrate,
    process_cpu_seconds,
    services_and_env,
    setup_django,
    start_uvicorn,
    use_scratch,
)

SCRATCH_DB = "colony_billing_bench"
SCRATCH_REDIS_DB = 13
SECRET = "whsec_bench_secret"


def _event(i: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_bench_{uuid.uuid4().hex}",
            "object": "event",
            "type": "customer.subscription.updated",
            "created": int(time.time()),
            "data": {"object": {"id": f"sub_{i}", "object": "subscription", "customer": f"cus_unknown_{i}"}},
        }
    ).encode()


def _signed(body: bytes) -> dict[str, str]:
    import stripe

    return {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET),
    }


def _post_many(port: int, path: str, bodies: list[bytes], concurrency: int) -> tuple[float, dict[int, int]]:
    chunks = [bodies[i::concurrency] for i in range(concurrency)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    prepared = [[(b, _signed(b)) for b in chunk] for chunk in chunks]

    def run(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: dict[int, int] = {}
        for body, headers in chunk:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            local[response.status] = local.get(response.status, 0) + 1
        conn.close()
        with lock:
            for k, v in local.items():
                statuses[k] = statuses.get(k, 0) + v

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(c,)) for c in prepared]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, statuses


def _replay(port: int, n_events: int, replays: int) -> tuple[int, int, int]:
    def deliver(body: bytes) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/v1/webhooks/stripe/", body=body, headers=_signed(body))
        answer = json.loads(conn.getresponse().read())
        conn.close()
        return answer.get("status", "?")

    accepted = duplicate = 0
    bodies = [_event(i) for i in range(n_events)]
    with ThreadPoolExecutor(max_workers=replays) as pool:
        for body in bodies:
            outcomes = list(pool.map(deliver, [body] * replays))
            accepted += outcomes.count("accepted")
            duplicate += outcomes.count("duplicate")
    ids = [json.loads(b)["id"] for b in bodies]
    from apps.core.models import InboundWebhook

    rows = InboundWebhook.objects.filter(source="stripe", external_id__in=ids).count()
    return accepted, duplicate, rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    services, env = services_and_env("bench.billing_settings")
    env.update({"DEBUG": "False", "STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE_API_KEY": "sk_test_bench"})
    database_url = None
    server = None
    try:
        services.start(env)
        database_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB, celery=True)
        migrate(env, bootstrap=False)
        setup_django(env, flush_redis=True)
        port = free_port()
        server, _ = start_uvicorn(env, port, app="bench.asgi:application", start_timeout=180)
        ours, bare = [], []
        cpu: dict[str, list[float]] = {"ours": [], "bare": []}
        for _ in range(args.rounds):
            for label, path, out in (
                ("ours", "/api/v1/webhooks/stripe/", ours),
                ("bare", "/bench/bare-stripe", bare),
            ):
                bodies = [_event(i) for i in range(args.events)]
                cpu_before = process_cpu_seconds(server.pid)
                wall, statuses = _post_many(port, path, bodies, args.concurrency)
                cpu[label].append((process_cpu_seconds(server.pid) - cpu_before) / args.events * 1000)
                assert statuses == {200: args.events}, (label, statuses)
                out.append(args.events / wall)
        o, b = statistics.median(ours), statistics.median(bare)
        o_cpu, b_cpu = statistics.median(cpu["ours"]), statistics.median(cpu["bare"])
        load = os.getloadavg()[0]
        print(
            f"\nwebhook intake: {args.events} distinct signed events x {args.rounds} rounds, "
            f"{args.concurrency} keep-alive clients, 1 uvicorn process; load {load:.1f} on {os.cpu_count()} CPUs"
        )
        print(f"{'path':<56}{'events/s (median)':>18}{'server CPU ms/event':>22}")
        print(f"{'bare view (verify_header only)':<56}{b:>18.0f}{b_cpu:>22.2f}")
        print(f"{'POST /api/v1/webhooks/stripe/ (verify+insert+enqueue)':<56}{o:>18.0f}{o_cpu:>22.2f}")
        print(f"rounds (events/s) ours {[round(x) for x in ours]}, bare {[round(x) for x in bare]}")
        print(f"ratio ours/bare: {o / b:.2f} (target >= 0.5); load now {os.getloadavg()[0]:.1f}")
        accepted, duplicate, rows = _replay(port, 50, args.replays)
        from apps.billing.services.stripe_events import process_stripe_event
        from apps.core.models import InboundWebhook

        ids = list(
            InboundWebhook.objects.filter(source="stripe", status="received").values_list("pk", flat=True)[
                :50
            ]
        )
        first = [process_stripe_event(webhook_id=pk) for pk in ids]
        second = [process_stripe_event(webhook_id=pk) for pk in ids]
        print(
            f"\nreplay: 50 events x {args.replays} concurrent deliveries: accepted {accepted}, duplicate {duplicate}, "
            f"rows {rows}; processed on pass 1: {sum(1 for s in first if s != 'skipped')}, "
            f"on pass 2: {sum(1 for s in second if s != 'skipped')} (must be 0)"
        )
        assert accepted == rows == 50 and duplicate == 50 * (args.replays - 1)
        assert all(s == "skipped" for s in second)
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if database_url and not args.keep_db:
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
