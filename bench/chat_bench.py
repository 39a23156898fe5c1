#!/usr/bin/env python
"""Chat delivery: one sender, N connected members of a group, next to a bare Channels relay.

    .venv/bin/python bench/chat_bench.py [--members 100] [--rate 10] [--messages 100]
                                         [--duration 10] [--window 8] [--keep-db | --reuse-db]

1. Uses DATABASE_URL / REDIS_URL (environment or ``.env``; the embedded
   services otherwise), creates and migrates a scratch database
   ``colony_chat_bench`` and uses Redis database 14 (both wiped first; the
   database is dropped at the end unless ``--keep-db``; ``--reuse-db`` runs on
   the one a ``--keep-db`` run left, without migrating).
2. Creates a sender and ``--members`` members of one group conversation, each
   with a real browser session, and starts one uvicorn process serving
   ``bench.chat_asgi`` (the project's app plus ``/bench/relay/``, a bare
   Channels consumer that only relays a frame to one group over the same
   Redis channel layer).
3. Opens N + 1 real WebSockets (``websockets`` client, one asyncio loop in
   this process) to ``/ws/`` for chat and to ``/bench/relay/`` for the
   baseline, then for each of the two, in the same run:
   * latency: ``--messages`` messages at ``--rate`` per second; end-to-end
     delivery latency = a member's receive time − the sender's send time
     (same clock), over every (message, member) pair: p50 / p99;
   * throughput: for ``--duration`` seconds the sender keeps ``--window``
     messages in flight (chat: until its ``message.ack``; relay: until its own
     copy comes back); delivered messages/s = frames received by the members
     / seconds.
   Chat frames are ``message.send`` → ``send_message`` (membership, rate
   limit, seq ``UPDATE … RETURNING``, insert, cursor, commit, broadcast);
   the send rate limit is raised so the benchmark never trips it. Relay frames
   are padded to the size of a chat ``message.created`` frame.
Targets: chat p99 under 50 ms at 10 messages/s with 100 members, and at least
half the relay's delivered messages/s. Client and server share the machine's
CPUs (the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    drop_scratch,
    free_port,
    logged_in_session,
    migrate,
    services_and_env,
    setup_django,
    start_uvicorn,
    use_scratch,
    with_database,
    with_redis_db,
)

SCRATCH_DB = "colony_chat_bench"
SCRATCH_REDIS_DB = 14


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Member:
    """One member socket: records (arrival time, message key) of every delivery."""

    def __init__(self, ws, key_of) -> None:
        self.ws = ws
        self.key_of = key_of
        self.arrivals: list[tuple[float, str]] = []
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                key = self.key_of(raw)
                if key is not None:
                    self.arrivals.append((now, key))
        except Exception:  # noqa: BLE001, S110 — the socket closing ends the reader
            pass


def chat_key(raw: str) -> str | None:
    if '"message.created"' not in raw[:40]:
        return None
    return json.loads(raw)["message"]["client_id"]


def relay_key(raw: str) -> str | None:
    return json.loads(raw)["id"]


async def connect(url: str, cookie: str | None, *, hello: bool):
    """A signed-in socket; ``hello``: wait for the chat consumer's greeting (the relay sends none)."""
    import websockets

    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    ws = await websockets.connect(
        url, additional_headers=headers, origin="http://127.0.0.1", open_timeout=30, max_queue=None
    )
    if hello:
        greeting = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert greeting["type"] == "hello", greeting
    return ws


class Sender:
    """Sends chat or relay frames and knows when one is done (acked / echoed back)."""

    def __init__(self, ws, kind: str, conversation_id: str, pad: int) -> None:
        self.ws = ws
        self.kind = kind
        self.conversation_id = conversation_id
        self.pad = pad
        self.sent_at: dict[str, float] = {}
        self.done: dict[str, asyncio.Future] = {}
        self.errors: list[str] = []
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if self.kind == "chat":
                    if frame.get("type") == "message.ack":
                        key = frame["client_id"]
                    elif frame.get("type") == "error":
                        self.errors.append(frame.get("code", "?"))
                        key = frame.get("client_id")
                    else:
                        continue
                else:
                    key = frame.get("id")
                future = self.done.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(None)
        except Exception:  # noqa: BLE001, S110 — the socket closing ends the reader
            pass

    async def send(self) -> asyncio.Future:
        key = str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self.done[key] = future
        if self.kind == "chat":
            frame = {"type": "message.send", "conversation_id": self.conversation_id, "body": "bench message",
                     "client_id": key}  # fmt: skip
        else:
            frame = {"type": "message.created", "id": key, "pad": "x" * self.pad}
        self.sent_at[key] = time.perf_counter()
        await self.ws.send(json.dumps(frame))
        return future


async def run_case(kind: str, url: str, sender_cookie, member_cookies, conversation_id: str, args, pad: int):
    key_of = chat_key if kind == "chat" else relay_key
    hello = kind == "chat"
    members = []
    for start in range(0, len(member_cookies), 20):  # connect in small batches
        batch = member_cookies[start : start + 20]
        sockets = await asyncio.gather(*(connect(url, c, hello=hello) for c in batch))
        members.extend(Member(ws, key_of) for ws in sockets)
    sender = Sender(await connect(url, sender_cookie, hello=hello), kind, conversation_id, pad)
    for _ in range(3):  # warm-up
        await asyncio.wait_for(await sender.send(), 10)
    await asyncio.sleep(0.5)
    for m in members:
        m.arrivals.clear()

    # 1. latency at a fixed rate
    keys_before = set(sender.sent_at)
    interval = 1 / args.rate
    start = time.perf_counter()
    pending = []
    for i in range(args.messages):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(await sender.send())
    await asyncio.wait_for(asyncio.gather(*pending), 30)
    wanted = set(sender.sent_at) - keys_before
    deadline = time.perf_counter() + 10
    while sum(1 for m in members for _, k in m.arrivals if k in wanted) < len(wanted) * len(members):
        if time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.05)
    latencies = [(at - sender.sent_at[k]) * 1000 for m in members for at, k in m.arrivals if k in wanted]
    expected = len(wanted) * len(members)
    for m in members:
        m.arrivals.clear()

    # 2. sustained throughput with a window of messages in flight
    stop_at = time.perf_counter() + args.duration
    in_flight: set[asyncio.Future] = set()
    sent = 0
    t0 = time.perf_counter()
    while time.perf_counter() < stop_at:
        while len(in_flight) < args.window:
            in_flight.add(await sender.send())
            sent += 1
        done, in_flight = await asyncio.wait(in_flight, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            break
    if in_flight:
        await asyncio.wait(in_flight, timeout=10)
    settle = time.perf_counter() + 10
    while sum(len(m.arrivals) for m in members) < sent * len(members) and time.perf_counter() < settle:
        await asyncio.sleep(0.05)
    elapsed = max(at for m in members for at, _ in m.arrivals) - t0 if sent else float("nan")
    delivered = sum(len(m.arrivals) for m in members)
    for m in [*members]:
        await m.ws.close()
    await sender.ws.close()
    return {
        "latencies": latencies,
        "delivered_latency": len(latencies),
        "expected_latency": expected,
        "sent": sent,
        "delivered": delivered,
        "expected": sent * len(members),
        "elapsed": elapsed,
        "errors": sender.errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s for the latency run")
    parser.add_argument("--messages", type=int, default=100, help="messages in the latency run")
    parser.add_argument("--duration", type=int, default=10, help="seconds of the throughput run")
    parser.add_argument("--window", type=int, default=8, help="messages in flight in the throughput run")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--reuse-db", action="store_true", help="use the scratch database a --keep-db run left (no migrate)"
    )
    args = parser.parse_args()
    args.keep_db = args.keep_db or args.reuse_db

    services, env = services_and_env("bench.settings")
    env["DEBUG"] = "False"
    env["CHAT_SEND_BURST"] = str(10**6)
    env["CHAT_SEND_PER_SECOND"] = str(10**6)
    env["CHAT_GROUP_MAX_MEMBERS"] = str(max(500, args.members + 1))
    server = scratch_url = None
    # a SIGTERM (timeout, kill) unwinds through the teardown below like Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        services.start(env)
        if args.reuse_db:
            scratch_url = env["DATABASE_URL"] = with_database(env["DATABASE_URL"], SCRATCH_DB)
            env["REDIS_URL"] = with_redis_db(env["REDIS_URL"], SCRATCH_REDIS_DB)
        else:
            scratch_url = use_scratch(env, SCRATCH_DB, SCRATCH_REDIS_DB)
            migrate(env)
        setup_django(env, flush_redis=True)
        from apps.accounts.models import User
        from apps.chat import services as chat
        from apps.networks.selectors import default_network

        network = default_network()
        run = uuid.uuid4().hex[:6]  # a reused database keeps earlier runs' people
        people = [
            User.objects.create(
                network=network,
                email=f"chat{i}.{run}@bench.local",
                handle=f"chat_bench_{run}_{i}",
                display_name=f"Bench {i}",
            )  # fmt: skip
            for i in range(args.members + 1)
        ]
        sender, members = people[0], people[1:]
        conversation = chat.create_group(actor=sender, title="bench", members=members)
        cookies = [logged_in_session(p) for p in people]
        # what a real login records next to the session (sockets require a live UserSession row)
        from datetime import timedelta

        from django.utils import timezone

        from apps.accounts.models import UserSession

        UserSession.objects.bulk_create(
            UserSession(user=p, session_key=key, expires_at=timezone.now() + timedelta(days=1))
            for p, key in zip(people, cookies, strict=True)
        )
        server, base = start_uvicorn(env, free_port(), app="bench.chat_asgi:application", start_timeout=180)
        ws_base = base.replace("http://", "ws://")

        probe = chat.send_message(actor=sender, conversation=conversation, body="bench message")
        from apps.chat.payloads import message_payload

        chat_frame = json.dumps(
            {
                "type": "message.created",
                "conversation_id": str(conversation.pk),
                "message": message_payload(probe),
            }
        )
        pad = max(0, len(chat_frame) - 80)

        async def both():
            relay = await run_case(
                # signed in like the chat sockets: the shared /ws/ auth refuses anonymous handshakes
                "relay",
                f"{ws_base}/bench/relay/",
                cookies[0],
                cookies[1:],
                "",
                args,
                pad,
            )
            chat_result = await run_case(
                "chat", f"{ws_base}/ws/", cookies[0], cookies[1:], str(conversation.pk), args, pad
            )
            return relay, chat_result

        relay, chat_result = asyncio.run(both())
        load = os.getloadavg()[0]
        print(
            f"\nchat delivery — 1 sender, {args.members} members, uvicorn 1 process, Redis channel layer; "
            f"frames ~{len(chat_frame)} bytes; load average {load:.1f} on {os.cpu_count()} CPUs\n"
        )
        print(
            f"{'consumer':<12}{'latency run':>14}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
            f"{'sent':>8}{'delivered':>11}{'msgs/s':>9}{'deliv/s':>10}"
        )
        rows = {}
        for label, r in (("bare relay", relay), ("chat", chat_result)):
            lat = r["latencies"]
            deliv_s = r["delivered"] / r["elapsed"] if r["elapsed"] else float("nan")
            rows[label] = deliv_s
            print(
                f"{label:<12}{r['delivered_latency']:>7}/{r['expected_latency']:<6}"
                f"{statistics.median(lat) if lat else float('nan'):>9.1f}{percentile(lat, 99):>9.1f}"
                f"{max(lat) if lat else float('nan'):>9.1f}{r['sent']:>8}{r['delivered']:>11}"
                f"{r['sent'] / r['elapsed']:>9.1f}{deliv_s:>10.0f}"
            )
        if chat_result["errors"]:
            print(f"chat send errors: {sorted(set(chat_result['errors']))}")
        p99 = percentile(chat_result["latencies"], 99)
        ratio = rows["chat"] / rows["bare relay"] if rows["bare relay"] else float("nan")
        print(
            f"\nchat p99 {p99:.1f} ms at {args.rate:g} msg/s — {'meets' if p99 < 50 else 'MISSES'} the 50 ms target; "
            f"delivered/s chat / relay = {ratio:.2f} — {'meets' if ratio >= 0.5 else 'MISSES'} the 0.5 target"
        )
        return 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        # the scratch database goes while its server still runs (an embedded PostgreSQL stops below)
        if scratch_url is not None and not args.keep_db:
            try:
                drop_scratch(scratch_url, SCRATCH_DB)
            except Exception as exc:  # noqa: BLE001 — report, do not hide the run's own result
                print(f"could not drop {SCRATCH_DB}: {exc}", file=sys.stderr)
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
