#!/usr/bin/env python
"""A campaign through the whole pipeline into moto's SES endpoint, next to a bare boto3 loop.

    .venv/bin/python bench/mailing_bench.py [--recipients 100000] [--workers 2] [--suppressed-percent 1]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded
   services otherwise), creates and migrates a scratch database
   ``colony_mailing_bench`` and uses Redis database 13 (both wiped first; the
   database is dropped at the end unless ``--keep-db``).
2. Starts moto in server mode (its own process: a real HTTP SES endpoint)
   and creates N users in the default network, ``--suppressed-percent`` of
   them with a ``campaigns`` suppression.
3. Baseline: one bare ``sesv2.send_email`` loop (raw MIME, the same size
   as a campaign message) sending N messages, timed.
4. Pipeline (moto reset in between): ``--workers`` real ``celery worker``
   processes (solo pool each) and one campaign to every user: the beat
   path's ``send_campaign_now`` → audience frozen in batches of 5,000 →
   sender chains claim batches (``SKIP LOCKED``), take tokens from the Redis
   buckets, render per recipient, send, record — until the campaign is
   ``sent``. The campaign rate is 1,000/s (the maximum) and the account-wide
   ``SES_MAX_SEND_RATE`` is lifted, so the buckets are exercised, not binding.
5. Checks: every non-suppressed user got exactly one message and no
   suppressed one got any (moto's own record: ``/moto-api/data.json`` up to
   ``--exact-check-limit`` messages; beyond that moto's send counter, which
   counts 2 per message, against the sent rows).

Prints sends/s of both and the ratio (target ≥ 0.8 of the bare loop).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    drop_scratch,
    free_port,
    migrate,
    services_and_env,
    setup_django,
    use_scratch,
)

SCRATCH_DB = "colony_mailing_bench"
SCRATCH_REDIS_DB = 13
SENDER = "news@colony.local"
AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}


def start_moto(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).read()  # noqa: S310
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.terminate()
                raise
            time.sleep(0.2)


def moto_reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).read()  # noqa: S310 — loopback


def ses_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sesv2",
        endpoint_url=endpoint,
        region_name=AWS["AWS_REGION"],
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def moto_messages(endpoint: str) -> int:
    """Messages moto accepted: its counter adds the API destinations and the To: header (2 each)."""
    import boto3

    v1 = boto3.client(
        "ses",
        endpoint_url=endpoint,
        region_name=AWS["AWS_REGION"],
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )
    return int(v1.get_send_quota()["SentLast24Hours"]) // 2


def moto_recipients(endpoint: str) -> list[str]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=600) as response:  # noqa: S310
        data = json.load(response)
    out: list[str] = []
    for message in data.get("ses", {}).get("RawMessage", []):
        out.extend({address.lower() for address in message["destinations"]})
    return out


def bare_loop(endpoint: str, count: int, raw: bytes) -> float:
    client = ses_client(endpoint)
    client.create_email_identity(EmailIdentity="colony.local")
    started = time.perf_counter()
    for i in range(count):
        client.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": [f"bare{i}@bench.example"]},
            Content={"Raw": {"Data": raw}},
        )
    return time.perf_counter() - started


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen]:
    workers = []
    log_dir = ROOT / ".data"
    log_dir.mkdir(exist_ok=True)
    for i in range(count):
        log = (log_dir / f"mailing-bench-worker-{i}.log").open("w")
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "warning",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"mailing-bench-{i}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    from config.celery import app

    deadline = time.monotonic() + 60
    while True:
        replies = app.control.ping(timeout=1) or []
        names = {name for reply in replies for name in reply}
        if sum(name.startswith("mailing-bench-") for name in names) >= count:
            return workers
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise RuntimeError("celery workers did not start (see .data/mailing-bench-worker-*.log)")
        time.sleep(0.5)


def create_audience(count: int, suppressed_percent: float) -> tuple[object, set[str]]:
    from django.contrib.auth.hashers import make_password

    from apps.accounts.models import User
    from apps.mailing.models import EmailSuppression
    from apps.networks.selectors import default_network

    network = default_network()
    password = make_password(None)
    batch = 5000
    for start in range(0, count, batch):
        User.objects.bulk_create(
            [
                User(
                    network=network,
                    email=f"r{i}@bench.example",
                    handle=f"r{i}",
                    display_name=f"Reader {i}",
                    password=password,
                )
                for i in range(start, min(count, start + batch))
            ]
        )
    step = max(1, round(100 / suppressed_percent)) if suppressed_percent > 0 else 0
    suppressed = {f"r{i}@bench.example" for i in range(0, count, step)} if step else set()
    EmailSuppression.objects.bulk_create(
        [EmailSuppression(network=network, email=e, scope="campaigns", reason="manual") for e in suppressed],
        batch_size=5000,
    )
    return network, suppressed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--suppressed-percent", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--exact-check-limit", type=int, default=30_000, help="check addresses one by one up to this"
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    services, env = services_and_env("bench.settings")
    moto = None
    workers: list[subprocess.Popen] = []
    database_url = None
    try:
        services.start(env)
        database_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB, celery=True)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        env.update(AWS)
        env.update(
            {
                "AWS_SES_ENDPOINT_URL": endpoint,
                "SES_MAX_SEND_RATE": "1000000",
                "MAILING_SEND_CONCURRENCY": str(args.workers),
                "DEFAULT_FROM_EMAIL": f"Colony <{SENDER}>",
                "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            }
        )
        migrate(env)
        setup_django(env, flush_redis=True)
        from django.db import connection

        from apps.mailing import services as mailing
        from apps.mailing.models import EmailCampaign, EmailSend
        from apps.mailing.services.sending import render_message

        moto = start_moto(port)

        t0 = time.perf_counter()
        network, suppressed = create_audience(args.recipients, args.suppressed_percent)
        print(
            f"audience: {args.recipients} users ({len(suppressed)} suppressed) in {time.perf_counter() - t0:.1f}s"
        )
        from apps.accounts.models import User

        creator = User.objects.filter(network=network, is_staff=True).order_by("id").first()
        campaign = EmailCampaign.objects.create(
            network=network,
            name="bench",
            kind="product",
            subject="News for {{ first_name }}",
            from_name="Colony",
            from_email=SENDER,
            html_body="<p>Hello {{ name }}, here is what happened this week.</p>"
            "<p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>",
            audience={"source": "users"},
            rate_per_second=1000,
            batch_size=args.batch_size,
            created_by=creator,
        )
        sample = render_message(
            campaign,
            to="sample@bench.example",
            values={
                "email": "x",
                "name": "Reader 1",
                "first_name": "Reader",
                "handle": "r1",
                "network_name": "n",
            },
            token="x" * 43,  # noqa: S106 — a placeholder link
        )
        expected = User.objects.filter(
            network=network, is_active=True, is_ai=False, email__isnull=False
        ).count()
        expected -= len(suppressed)

        # --- the bare loop ------------------------------------------------------------
        bare_seconds = bare_loop(endpoint, expected, sample)
        bare_rate = expected / bare_seconds
        print(f"bare boto3 loop: {expected} messages in {bare_seconds:.1f}s = {bare_rate:.0f}/s")
        moto_reset(endpoint)
        ses_client(endpoint).create_email_identity(EmailIdentity="colony.local")

        # --- the pipeline -------------------------------------------------------------
        workers = start_workers(env, args.workers)
        connection.close()
        started = time.perf_counter()
        mailing.send_campaign_now(actor=creator, campaign=campaign)  # commits → Celery
        while True:
            row = EmailCampaign.objects.values("status", "audience_frozen_at", "sent_count").get(
                pk=campaign.pk
            )
            if row["status"] not in ("sending",):
                break
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker died (see .data/mailing-bench-worker-*.log)")
            time.sleep(0.5)
        pipeline_seconds = time.perf_counter() - started
        campaign.refresh_from_db()
        send_window = (campaign.finished_at - campaign.started_at).total_seconds()
        sent_rows = EmailSend.objects.filter(campaign=campaign, sent_at__isnull=False).count()
        pipeline_rate = sent_rows / pipeline_seconds
        print(
            f"pipeline ({args.workers} workers): {sent_rows} sent in {pipeline_seconds:.1f}s "
            f"(freeze + send; {send_window:.1f}s from start to finish in the database) = {pipeline_rate:.0f}/s"
        )

        # --- checks -------------------------------------------------------------------
        accepted = moto_messages(endpoint)
        duplicates = suppressed_hits = None
        if accepted <= args.exact_check_limit:
            recipients = moto_recipients(endpoint)
            duplicates = len(recipients) - len(set(recipients))
            suppressed_hits = len(set(recipients) & suppressed)
        else:
            duplicates = accepted - sent_rows  # each accepted message beyond a sent row would be a repeat
            suppressed_hits = EmailSend.objects.filter(
                campaign=campaign, status="suppressed", ses_message_id__isnull=False
            ).count()
        print(
            f"checks: campaign {campaign.status}; moto accepted {accepted}; sent rows {sent_rows}; "
            f"expected {expected}; duplicates {duplicates}; sends to suppressed {suppressed_hits}; "
            f"failed {campaign.failed_count}; suppressed rows {campaign.suppressed_count}"
            + ("" if accepted <= args.exact_check_limit else " (counter check, above --exact-check-limit)")
        )
        ratio = pipeline_rate / bare_rate
        load = os.getloadavg()[0]
        print(
            f"\nsends/s: bare loop {bare_rate:.0f}, pipeline {pipeline_rate:.0f} — ratio {ratio:.2f} "
            f"({'meets' if ratio >= 0.8 else 'MISSES'} the 0.8 target); load average {load:.1f} on {os.cpu_count()} CPUs"
        )
        ok = (
            campaign.status == "sent"
            and accepted == sent_rows == expected
            and duplicates == 0
            and suppressed_hits == 0
        )
        return 0 if ok else 1
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        if moto is not None:
            moto.terminate()
            moto.wait(10)
        if database_url and not args.keep_db:
            drop_scratch(database_url, SCRATCH_DB)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
