"""A local Stripe-API stub for tests (the Stripe network boundary).

A real HTTP server on 127.0.0.1 in a thread of the test process; the project's
``stripe`` SDK is pointed at it (``STRIPE_API_BASE``), and a Celery worker
subprocess reaches it the same way. It answers the calls the project makes,
with Stripe's form-encoded requests and JSON objects:

    POST /v1/customers                      GET /v1/customers/{id}
    POST /v1/checkout/sessions              GET /v1/checkout/sessions/{id}
    POST /v1/billing_portal/sessions
    POST /v1/accounts                       GET /v1/accounts/{id}
    POST /v1/account_links
    GET  /v1/subscriptions/{id}             GET /v1/invoices/{id}
    GET  /v1/payouts/{id}  (Stripe-Account header)
    POST /v1/subscriptions/{id}             (quantity, items[0][quantity], proration_behavior)
    POST /v1/transfers                      GET /v1/transfers/{id}
    POST /v1/billing/meter_events           (identifier deduplicated, like Stripe)

Idempotency: a POST with an ``Idempotency-Key`` seen before replays the first
answer (header ``Idempotent-Replayed: true``) and creates nothing; the same
key with other parameters is a 400 ``idempotency_error``, as at Stripe.
Errors: ``server.fail_next("/v1/checkout/sessions", "card_declined" |
"rate_limited" | "server_error", times=1)``. Every request is recorded in
``server.requests`` (method, path, headers, params, replayed).

Tests move the world on (``complete_checkout``, ``set_subscription``,
``set_account``, ``add_invoice``, ``add_payout``) and build events
(``event(type, obj)``), then deliver them signed the real SDK's way
(``stripe.WebhookSignature.generate_signature_header``: ``Stripe-Signature:
t=<ts>,v1=<HMAC-SHA256 of "t.body">``) with ``signed_headers`` / ``deliver``.

Fixture ``stripe_server`` (tests/billing/conftest.py): the shared server, reset,
with the STRIPE_* settings pointed at it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

WEBHOOK_SECRET = "whsec_test_stub_secret"
API_KEY = "sk_test_stub_0123456789"

_ERRORS = {
    "card_declined": (
        402,
        {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        },
    ),
    "rate_limited": (
        429,
        {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."},
    ),
    "server_error": (500, {"type": "api_error", "message": "Something went wrong on Stripe's end."}),
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    replayed: bool = False


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's nested form encoding (``a[b][0][c]=v``) back into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class StripeStub:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.stub = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    # --- lifecycle ---
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> StripeStub:
        self.thread.start()
        return self

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, Any]] = {}
            self.requests: list[Recorded] = []
            self.idempotent: dict[str, tuple[str, int, dict]] = {}
            self.failures: list[list[Any]] = []  # [path_prefix, kind, times]
            self.meter_events: dict[str, dict[str, Any]] = {}

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_stub{next(self._ids):08d}{int(time.time() * 1000) % 100000:05d}"

    def fail_next(self, path_prefix: str, kind: str, *, times: int = 1) -> None:
        with self.lock:
            self.failures.append([path_prefix, kind, times])

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # --- the world ---
    def complete_checkout(
        self, session_id: str, *, status: str = "active", quantity: int | None = None
    ) -> dict[str, Any]:
        """The customer paid: the session is complete; a subscription exists for subscription mode."""
        with self.lock:
            session = self.objects[session_id]
            session["status"] = "complete"
            session["payment_status"] = "paid"
            if session["mode"] == "subscription":
                item = session["line_items"][0]
                sub = self._subscription(
                    customer=session["customer"],
                    price=item["price"],
                    quantity=quantity or int(item.get("quantity", 1)),
                    status=status,
                    metadata=session.get("subscription_data", {}).get("metadata", {}),
                )
                session["subscription"] = sub["id"]
            else:
                session["payment_intent"] = self.new_id("pi")
            return dict(session)

    def _subscription(self, *, customer: str, price: str, quantity: int, status: str, metadata: dict) -> dict:
        sub_id = self.new_id("sub")
        now = int(time.time())
        sub = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "created": now,
            "metadata": metadata,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self.new_id("si"),
                        "object": "subscription_item",
                        "price": {"id": price, "object": "price"},
                        "quantity": quantity,
                        "current_period_end": now + 30 * 86400,
                    }
                ],
            },
        }
        self.objects[sub_id] = sub
        return sub

    def set_subscription(self, sub_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            sub = self.objects[sub_id]
            quantity = changes.pop("quantity", None)
            price = changes.pop("price", None)
            if quantity is not None:
                sub["items"]["data"][0]["quantity"] = quantity
            if price is not None:
                sub["items"]["data"][0]["price"] = {"id": price, "object": "price"}
            sub.update(changes)
            return json.loads(json.dumps(sub))

    def set_account(self, account_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            self.objects[account_id].update(changes)
            return dict(self.objects[account_id])

    def add_invoice(
        self, *, customer: str, subscription: str | None = None, status: str = "paid", amount: int = 2000
    ) -> dict:
        with self.lock:
            inv_id = self.new_id("in")
            now = int(time.time())
            invoice = {
                "id": inv_id,
                "object": "invoice",
                "customer": customer,
                "subscription": subscription,
                "number": f"STUB-{inv_id[-6:]}",
                "status": status,
                "amount_due": amount,
                "amount_paid": amount if status == "paid" else 0,
                "currency": "usd",
                "hosted_invoice_url": f"{self.url}/invoices/{inv_id}",
                "period_start": now - 30 * 86400,
                "period_end": now,
                "status_transitions": {"paid_at": now if status == "paid" else None},
                "created": now,
            }
            self.objects[inv_id] = invoice
            return dict(invoice)

    def add_payout(
        self, *, account: str, status: str = "paid", amount: int = 5000, failure_code: str | None = None
    ) -> dict:
        with self.lock:
            payout_id = self.new_id("po")
            payout = {
                "id": payout_id,
                "object": "payout",
                "amount": amount,
                "currency": "usd",
                "status": status,
                "failure_code": failure_code,
                "arrival_date": int(time.time()) + 86400,
                "_account": account,
            }
            self.objects[payout_id] = payout
            return {k: v for k, v in payout.items() if not k.startswith("_")}

    def event(
        self, event_type: str, obj: dict[str, Any], *, created: int | None = None, account: str | None = None
    ) -> dict[str, Any]:
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": created if created is not None else int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": {k: v for k, v in obj.items() if not k.startswith("_")}},
        }
        if account:
            event["account"] = account
        return event

    def deliver(
        self,
        url: str,
        event: dict[str, Any] | bytes,
        *,
        secret: str = WEBHOOK_SECRET,
        timestamp: int | None = None,
    ) -> tuple[int, dict]:
        """POST a signed event to a live endpoint; returns (status, JSON body)."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        request = urllib.request.Request(
            url, data=body, headers=signed_headers(body, secret=secret, timestamp=timestamp), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    # --- request handling ---
    def handle(
        self, method: str, path: str, headers: dict[str, str], params: dict[str, Any]
    ) -> tuple[int, dict, bool]:
        key = headers.get("Idempotency-Key") if method == "POST" else None
        fingerprint = json.dumps([path, params], sort_keys=True)
        with self.lock:
            if key and key in self.idempotent:
                seen_fp, status, body = self.idempotent[key]
                if seen_fp != fingerprint:
                    error = {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                    }
                    return 400, {"error": error}, False
                self.requests.append(Recorded(method, path, headers, params, replayed=True))
                return status, body, True
            self.requests.append(Recorded(method, path, headers, params))
            for failure in self.failures:
                if path.startswith(failure[0]) and failure[2] > 0:
                    failure[2] -= 1
                    status, error = _ERRORS[failure[1]]
                    return status, {"error": error}, False
            status, body = self._route(method, path, headers, params)
            if key and status < 500:  # a snapshot: a replay answers what the first call answered
                self.idempotent[key] = (fingerprint, status, json.loads(json.dumps(body)))
            return status, body, False

    def _missing(self, object_id: str) -> tuple[int, dict]:
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such object: '{object_id}'",
                "param": "id",
            }
        }

    def _get(self, object_id: str, kind: str) -> tuple[int, dict]:
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != kind:
            return self._missing(object_id)
        return 200, {k: v for k, v in obj.items() if not k.startswith("_")}

    def _route(
        self, method: str, path: str, headers: dict[str, str], params: dict[str, Any]
    ) -> tuple[int, dict]:
        now = int(time.time())
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/customers":
            obj = {
                "id": self.new_id("cus"),
                "object": "customer",
                "created": now,
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": params.get("metadata", {}),
            }
            self.objects[obj["id"]] = obj
            return 200, obj
        if method == "POST" and path == "/v1/checkout/sessions":
            if not params.get("customer") or params["customer"] not in self.objects:
                return self._missing(str(params.get("customer")))
            session_id = self.new_id("cs_test")
            amount = sum(
                int((i.get("price_data") or {}).get("unit_amount", 0)) * int(i.get("quantity", 1))
                for i in params.get("line_items", [])
            )
            obj = {
                "id": session_id,
                "object": "checkout.session",
                "created": now,
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata", {}),
                "line_items": params.get("line_items", []),
                "subscription_data": params.get("subscription_data", {}),
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": amount or None,
                "subscription": None,
                "payment_intent": None,
                "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            }
            self.objects[session_id] = obj
            return 200, {k: v for k, v in obj.items() if k not in ("line_items", "subscription_data")}
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if params.get("customer") not in self.objects:
                return self._missing(str(params.get("customer")))
            sid = self.new_id("bps")
            return 200, {
                "id": sid,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "url": f"https://billing.stripe.test/p/session/{sid}",
                "return_url": params.get("return_url"),
            }
        if method == "POST" and path == "/v1/accounts":
            obj = {
                "id": self.new_id("acct"),
                "object": "account",
                "type": params.get("type", "express"),
                "charges_enabled": False,
                "payouts_enabled": False,
                "details_submitted": False,
                "requirements": {"currently_due": ["external_account", "tos_acceptance.date"]},
                "metadata": params.get("metadata", {}),
                "created": now,
            }
            self.objects[obj["id"]] = obj
            return 200, obj
        if method == "POST" and path == "/v1/account_links":
            if params.get("account") not in self.objects:
                return self._missing(str(params.get("account")))
            return 200, {
                "object": "account_link",
                "created": now,
                "expires_at": now + 300,
                "url": f"https://connect.stripe.test/setup/e/{params['account']}/{self.new_id('al')}",
            }
        if method == "POST" and path == "/v1/billing/meter_events":
            identifier = params.get("identifier") or self.new_id("mev")
            if identifier in self.meter_events:
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "duplicate_meter_event",
                        "message": "An event with this identifier already exists.",
                    }
                }
            obj = {
                "object": "billing.meter_event",
                "event_name": params.get("event_name"),
                "identifier": identifier,
                "payload": params.get("payload", {}),
                "timestamp": int(params.get("timestamp") or now),
                "created": now,
            }
            self.meter_events[identifier] = obj
            return 200, obj
        if method == "POST" and len(parts) == 3 and parts[1] == "subscriptions":
            sub = self.objects.get(parts[2])
            if sub is None or sub.get("object") != "subscription":
                return self._missing(parts[2])
            items = params.get("items") or []
            quantity = params.get("quantity") or (items[0].get("quantity") if items else None)
            if quantity is not None:
                if int(quantity) < 1:
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "Invalid positive integer",
                            "param": "quantity",
                        }
                    }
                sub["items"]["data"][0]["quantity"] = int(quantity)
                sub["quantity"] = int(quantity)
            if "metadata" in params:
                sub.setdefault("metadata", {}).update(params["metadata"])
            return self._get(parts[2], "subscription")
        if method == "POST" and path == "/v1/transfers":
            destination = params.get("destination")
            account = self.objects.get(str(destination))
            if account is None or account.get("object") != "account":
                return self._missing(str(destination))
            if not account.get("payouts_enabled"):
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "account_invalid",
                        "message": "The destination account cannot receive transfers yet.",
                        "param": "destination",
                    }
                }
            amount = int(params.get("amount") or 0)
            if amount <= 0:
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Invalid integer",
                        "param": "amount",
                    }
                }
            obj = {
                "id": self.new_id("tr"),
                "object": "transfer",
                "amount": amount,
                "currency": params.get("currency", "usd"),
                "destination": destination,
                "transfer_group": params.get("transfer_group"),
                "metadata": params.get("metadata", {}),
                "reversed": False,
                "created": now,
            }
            self.objects[obj["id"]] = obj
            return 200, obj
        if method == "GET" and len(parts) == 3:
            kinds = {
                "customers": "customer",
                "subscriptions": "subscription",
                "invoices": "invoice",
                "accounts": "account",
                "payouts": "payout",
                "transfers": "transfer",
            }
            kind = kinds.get(parts[1])
            if kind == "payout":
                obj = self.objects.get(parts[2])
                if obj is None or obj.get("_account") != headers.get("Stripe-Account"):
                    return self._missing(parts[2])
            if kind:
                return self._get(parts[2], kind)
        if method == "GET" and len(parts) == 4 and parts[1:3] == ["checkout", "sessions"]:
            status, body = self._get(parts[3], "checkout.session")
            return status, {k: v for k, v in body.items() if k not in ("line_items", "subscription_data")}
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            }
        }


def signed_headers(
    body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers of a Stripe delivery, signed by the real SDK's scheme."""
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {
        "Content-Type": "application/json",
        "Stripe-Signature": header,
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(raw if method == "POST" else split.query, keep_blank_values=True)
        stub: StripeStub = self.server.stub  # type: ignore[attr-defined]
        headers = {k: v for k, v in self.headers.items()}
        if not (headers.get("Authorization") or "").startswith("Bearer sk_"):
            status, body, replayed = (
                401,
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}},
                False,
            )
        else:
            status, body, replayed = stub.handle(method, split.path, headers, parse_form(pairs))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_stub{time.time_ns()}")
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        if status >= 500 or status == 429:
            self.send_header("Stripe-Should-Retry", "true")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


_shared: StripeStub | None = None


def shared_stub() -> StripeStub:
    """One stub per test process (xdist worker), started on first use."""
    global _shared
    if _shared is None:
        _shared = StripeStub().start()
    return _shared


@pytest.fixture
def stripe_server(settings, monkeypatch) -> StripeStub:
    """The local Stripe stub, reset; the SDK and the webhook secret pointed at it (also for workers)."""
    server = shared_stub()
    server.reset()
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    # a Celery worker subprocess reads the same values from its environment
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "0")
    yield server
    server.reset()
