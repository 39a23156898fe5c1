"""Local FCM (with its OAuth token endpoint) and APNs servers that speak the real protocols.

``FakeFCM`` plays Google: ``POST /token`` verifies the RS256 assertion with
the service account's *public* key (issuer, audience, scope, lifetime) and
issues an access token; ``POST /v1/projects/<id>/messages:send`` accepts
only a token it issued and unexpired, and answers what a device's queue
holds (default 200 ``{"name": …}``) with FCM's error bodies
(``UNREGISTERED``, ``QUOTA_EXCEEDED`` …).

``FakeAPNs`` plays Apple: ``POST /3/device/<token>`` verifies the ES256
provider token with the key's *public* half (``kid``, team ``iss``, ``iat``
under an hour old, else 403 ``ExpiredProviderToken``), checks the topic and
push type, and answers the queued status and ``reason``.

Both record every request (the parsed message, the verified claims).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"

FCM_ERRORS = {
    400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    404: ("NOT_FOUND", "UNREGISTERED"),
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    500: ("INTERNAL", "INTERNAL"),
    503: ("UNAVAILABLE", "UNAVAILABLE"),
}


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class _Server:
    host = "127.0.0.1"

    def _serve(self, handle: Any) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, payload = handle(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                raw = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class FCMMessage:
    device: str
    message: dict[str, Any]
    access_token: str


@dataclass
class FakeFCM(_Server):
    project_id: str = "colony-test"
    client_email: str = "push@colony-test.iam.gserviceaccount.com"
    key_id: str = "k-0123456789"
    expires_in: int = 3600
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    refused_assertions: int = 0
    messages: list[FCMMessage] = field(default_factory=list)
    unauthorized: int = 0
    issued: dict[str, float] = field(default_factory=dict)
    queues: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    token_answers: deque[int] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeFCM:
        self._serve(self._handle)
        return self

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def service_account(self) -> dict[str, str]:
        """The JSON a Google service-account key file holds."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.key_id,
            "private_key": pem(self.key),
            "client_email": self.client_email,
            "token_uri": self.token_url,
        }

    def answer(self, device: str, *statuses: int) -> None:
        self.queues[device].extend(statuses)

    def revoke_all(self) -> None:
        self.issued.clear()

    def for_device(self, device: str) -> list[FCMMessage]:
        return [m for m in self.messages if m.device == device]

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, Any]:
        with self.lock:
            if path == "/token":
                return self._token(body)
            if path == f"/v1/projects/{self.project_id}/messages:send":
                return self._send(headers, body)
            return 404, {}, {"error": {"code": 404, "status": "NOT_FOUND", "message": "no such path"}}

    def _token(self, body: bytes) -> tuple[int, dict, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if self.token_answers:
            status = self.token_answers.popleft()
            return status, {}, {"error": "invalid_grant" if status < 500 else "backend_error"}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {}, {"error": "unsupported_grant_type"}
        try:
            header = jwt.get_unverified_header(form.get("assertion", ""))
            claims = jwt.decode(
                form.get("assertion", ""),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=self.token_url,
                issuer=self.client_email,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            self.refused_assertions += 1
            return 400, {}, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if (
            header.get("kid") != self.key_id
            or claims.get("scope") != FCM_SCOPE
            or claims["exp"] - claims["iat"] > 3600
        ):
            self.refused_assertions += 1
            return 400, {}, {"error": "invalid_scope"}
        token = "ya29." + secrets.token_urlsafe(24)
        self.issued[token] = time.time() + self.expires_in
        self.exchanges.append({"header": header, "claims": claims, "access_token": token})
        return 200, {}, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def _send(self, headers: dict[str, str], body: bytes) -> tuple[int, dict, Any]:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if self.issued.get(bearer, 0) < time.time():
            self.unauthorized += 1
            return 401, {}, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad token"}}
        message = json.loads(body)["message"]
        device = message["token"]
        self.messages.append(FCMMessage(device, message, bearer))
        queue = self.queues.get(device)
        status = queue.popleft() if queue else 200
        if status == 200:
            return 200, {}, {"name": f"projects/{self.project_id}/messages/{secrets.token_hex(8)}"}
        status_name, code = FCM_ERRORS.get(status, ("UNKNOWN", "UNSPECIFIED_ERROR"))
        extra = {"Retry-After": "45"} if status == 429 else {}
        return (
            status,
            extra,
            {
                "error": {
                    "code": status,
                    "message": "refused",
                    "status": status_name,
                    "details": [
                        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
                    ],
                }
            },
        )


@dataclass
class APNsRequest:
    device: str
    headers: dict[str, str]
    body: dict[str, Any]
    provider_token: str
    claims: dict[str, Any]


@dataclass
class FakeAPNs(_Server):
    team_id: str = "TEAM123456"
    key_id: str = "KEY1234567"
    topic: str = "org.colony.app"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    requests: list[APNsRequest] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    queues: dict[str, deque[tuple[int, str]]] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeAPNs:
        self._serve(self._handle)
        return self

    def answer(self, device: str, *answers: tuple[int, str]) -> None:
        self.queues[device].extend(answers)

    def for_device(self, device: str) -> list[APNsRequest]:
        return [r for r in self.requests if r.device == device]

    def _refuse(self, status: int, reason: str) -> tuple[int, dict, Any]:
        self.refused.append(reason)
        return status, {}, {"reason": reason}

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, Any]:
        with self.lock:
            if not path.startswith("/3/device/"):
                return 404, {}, {"reason": "BadPath"}
            device = unquote(path.removeprefix("/3/device/"))
            auth = headers.get("authorization", "")
            if not auth.startswith("bearer "):
                return self._refuse(403, "MissingProviderToken")
            token = auth.removeprefix("bearer ")
            try:
                header = jwt.get_unverified_header(token)
                claims = jwt.decode(
                    token, self.key.public_key(), algorithms=["ES256"], options={"require": ["iat", "iss"]}
                )
            except jwt.PyJWTError:
                return self._refuse(403, "InvalidProviderToken")
            if header.get("kid") != self.key_id or claims.get("iss") != self.team_id:
                return self._refuse(403, "InvalidProviderToken")
            if time.time() - claims["iat"] > 3600:
                return self._refuse(403, "ExpiredProviderToken")
            if headers.get("apns-topic") != self.topic:
                return self._refuse(
                    400, "DeviceTokenNotForTopic" if headers.get("apns-topic") else "MissingTopic"
                )
            if headers.get("apns-push-type") != "alert":
                return self._refuse(400, "InvalidPushType")
            self.requests.append(APNsRequest(device, headers, json.loads(body), token, claims))
            queue = self.queues.get(device)
            status, reason = queue.popleft() if queue else (200, "")
            if status == 200:
                return 200, {"apns-id": secrets.token_hex(16)}, None
            extra = {"Retry-After": "45"} if status == 429 else {}
            payload: dict[str, Any] = {"reason": reason}
            if status == 410:
                payload["timestamp"] = int(time.time() * 1000)
            return status, extra, payload
