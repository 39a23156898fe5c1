"""A local Web Push service: a real HTTP endpoint that decrypts what it receives.

It plays both ends a real push service sits between: the browser (it owns
the subscription's P-256 key pair and auth secret, so it can decrypt the
RFC 8291 ``aes128gcm`` body with ``http_ece``) and the push service (it
checks the RFC 8292 VAPID ``Authorization`` header's signature and that it
was signed by the key the server publishes). Each subscription path answers
the queued status codes (default 201).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def generate_vapid_keys() -> tuple[str, str]:
    """(private key as base64url raw 32 bytes, public key as base64url uncompressed point)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(private), b64url(public)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None
    vapid_valid: bool
    vapid_key: str | None


@dataclass
class Subscriber:
    """A browser's subscription: its keys decrypt what the push service delivers."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def subscription(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth_secret)},
        }


@dataclass
class PushService:
    host: str = "127.0.0.1"
    received: list[Received] = field(default_factory=list)
    responses: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    subscribers: dict[str, Subscriber] = field(default_factory=dict)

    def start(self) -> PushService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                service._record(self.path, dict(self.headers.items()), body)
                queue = service.responses.get(self.path)
                status = queue.popleft() if queue else 201
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def subscribe(self, name: str | None = None) -> Subscriber:
        path = f"/push/{name or b64url(os.urandom(9))}"
        subscriber = Subscriber(
            endpoint=self.base_url + path,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
        )
        self.subscribers[path] = subscriber
        return subscriber

    def answer(self, subscriber: Subscriber, *statuses: int) -> None:
        path = subscriber.endpoint.removeprefix(self.base_url)
        self.responses[path].extend(statuses)

    def for_subscriber(self, subscriber: Subscriber) -> list[Received]:
        path = subscriber.endpoint.removeprefix(self.base_url)
        return [r for r in self.received if r.path == path]

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        payload = None
        subscriber = self.subscribers.get(path)
        if subscriber is not None and lower.get("content-encoding") == "aes128gcm":
            plain = http_ece.decrypt(
                body,
                private_key=subscriber.private_key,
                auth_secret=subscriber.auth_secret,
                version="aes128gcm",
            )
            payload = json.loads(plain)
        auth = lower.get("authorization", "")
        vapid_key = None
        valid = False
        if auth.lower().startswith("vapid "):
            parts = dict(p.split("=", 1) for p in auth.split(" ", 1)[1].split(","))
            vapid_key = parts.get("k")
            try:
                valid = bool(Vapid02.verify(auth))
            except (AssertionError, ValueError, KeyError):
                valid = False
        self.received.append(Received(path, lower, body, payload, valid, vapid_key))
