"""Push providers behind one interface: Web Push (VAPID, pywebpush), FCM and APNs.

``provider_for(token).send(token, payload)`` returns a ``PushResult``:
``sent``; ``gone`` (the device no longer exists, the caller deletes the
token); ``retry`` (429, 5xx, network errors: try again later); ``rejected``
(any other refusal: this message will never be accepted). A result with
``device_fault=False`` (missing or refused credentials) does not count
against the device. Senders: ``WebPush`` here, ``fcm.FCM``, ``apns.APNs``.

Web Push endpoints follow the project's one outbound-URL rule
(``apps.core.ssrf``): checked when registered (``parse_web_subscription`` →
``check_public_url``: https, no credentials, never a loopback, private,
link-local or reserved address), and every send goes through
``public_client``, which checks the address it actually connects to (no DNS
rebinding). ``PUSH_ALLOW_PRIVATE_ENDPOINTS`` lifts the address rule (tests,
local push services).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from apps.core.exceptions import ValidationFailed
from apps.core.masking import mask_secret
from apps.core.ssrf import UnsafeAddress, check_public_url, public_client

logger = logging.getLogger(__name__)

MAX_ENDPOINT_LENGTH = 2000
MAX_DEVICE_TOKEN_LENGTH = 4096
#: Web Push services accept at least 4 KB of payload; stay well below after encryption
MAX_PAYLOAD_BYTES = 3000


@dataclass(frozen=True)
class PushResult:
    outcome: str  # sent | gone | retry | rejected
    status: int | None = None
    error: str = ""
    retry_after: int | None = None
    #: False when the failure is the deployment's (credentials), not the device's
    device_fault: bool = True

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


class PushProvider(Protocol):
    def send(self, token: Any, payload: dict[str, Any]) -> PushResult: ...


# --- Web Push subscriptions ------------------------------------------------------


def _b64url_decode(value: Any, *, field: str) -> bytes:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationFailed("Must be a base64url string.", field=field, code="invalid_key")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("Must be a base64url string.", field=field, code="invalid_key") from exc


def check_endpoint_url(endpoint: Any, *, field: str = "token") -> str:
    """The endpoint URL, or a 400 when it is malformed or (outside tests) not a public https host.

    The rule is ``apps.core.ssrf.check_public_url``'s; a host that does not
    resolve now is accepted (every send checks the address it connects to).
    """
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise ValidationFailed(
            f"The subscription endpoint must be a URL of at most {MAX_ENDPOINT_LENGTH} characters.",
            field=field,
            code="invalid_endpoint",
        )
    try:
        check_public_url(
            endpoint, field=field, allow_private=settings.PUSH_ALLOW_PRIVATE_ENDPOINTS, strip_slash=False
        )
    except ValidationFailed as exc:
        code = getattr(exc, "code", "")
        if code == f"{field}_unresolvable":
            return endpoint
        if code == f"{field}_private":
            raise ValidationFailed(
                "Push endpoints on private or loopback addresses are not allowed.",
                field=field,
                code="endpoint_not_allowed",
            ) from exc
        message = (
            "The subscription endpoint must use https."
            if code == f"{field}_not_https"
            else ("The subscription endpoint is not a valid URL.")
        )
        raise ValidationFailed(message, field=field, code="invalid_endpoint") from exc
    return endpoint


def parse_web_subscription(value: Any, *, field: str = "token") -> dict[str, Any]:
    """A PushSubscription (``{endpoint, keys: {p256dh, auth}}``, as an object or JSON text), normalised."""
    if isinstance(value, str):
        if len(value) > MAX_ENDPOINT_LENGTH + 1000:
            raise ValidationFailed("The subscription is too long.", field=field, code="invalid_subscription")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValidationFailed(
                "A web subscription must be the browser's PushSubscription JSON.",
                field=field,
                code="invalid_subscription",
            ) from exc
    if not isinstance(value, dict):
        raise ValidationFailed(
            "A web subscription must be an object {endpoint, keys: {p256dh, auth}}.",
            field=field,
            code="invalid_subscription",
        )
    endpoint = check_endpoint_url(value.get("endpoint"), field=field)
    keys = value.get("keys")
    if not isinstance(keys, dict) or "p256dh" not in keys or "auth" not in keys:
        raise ValidationFailed(
            "The subscription is missing its keys (p256dh and auth).", field=field, code="missing_keys"
        )
    p256dh = _b64url_decode(keys["p256dh"], field=field)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError as exc:
        raise ValidationFailed(
            "keys.p256dh is not a P-256 public key.", field=field, code="invalid_key"
        ) from exc
    if len(p256dh) != 65:
        raise ValidationFailed("keys.p256dh is not a P-256 public key.", field=field, code="invalid_key")
    if len(_b64url_decode(keys["auth"], field=field)) != 16:
        raise ValidationFailed("keys.auth must be 16 bytes.", field=field, code="invalid_key")
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


def parse_device_token(value: Any, *, field: str = "token") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_DEVICE_TOKEN_LENGTH:
        raise ValidationFailed(
            f"A device token is a non-empty string of at most {MAX_DEVICE_TOKEN_LENGTH} characters.",
            field=field,
            code="invalid_token",
        )
    token = value.strip()
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise ValidationFailed(
            "A device token has no spaces or control characters.", field=field, code="invalid_token"
        )
    return token


def token_identity(provider: str, token: str | dict[str, Any]) -> tuple[str, str]:
    """(token_hash, token_hint): a Web Push subscription is identified by its endpoint."""
    if provider == "webpush":
        endpoint = token["endpoint"] if isinstance(token, dict) else json.loads(token)["endpoint"]
        return hashlib.sha256(f"webpush:{endpoint}".encode()).hexdigest(), (
            urlsplit(endpoint).hostname or ""
        )[:200]
    return hashlib.sha256(f"{provider}:{token}".encode()).hexdigest(), mask_secret(str(token))


# --- VAPID ------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _vapid_for(private_key: str) -> Any:
    from py_vapid import Vapid

    text = private_key.strip()
    if "-----BEGIN" in text:
        return Vapid.from_pem(text.encode())
    return Vapid.from_string(text)


def vapid() -> Any:
    if not settings.VAPID_PRIVATE_KEY:
        return None
    return _vapid_for(settings.VAPID_PRIVATE_KEY)


def vapid_public_key() -> str:
    """The applicationServerKey browsers subscribe with (base64url, uncompressed P-256 point)."""
    if settings.VAPID_PUBLIC_KEY:
        return settings.VAPID_PUBLIC_KEY
    signer = vapid()
    if signer is None:
        return ""
    raw = signer.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- providers --------------------------------------------------------------------


def retry_after_seconds(response: Any) -> int | None:
    """``Retry-After`` in seconds (an HTTP date or garbage: None)."""
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return max(0, int(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify(
    status: int | None, error: str, retry_after: int | None = None, *, gone: tuple[int, ...] = (404, 410)
) -> PushResult:
    if status is not None and 200 <= status < 300:
        return PushResult("sent", status)
    if status in gone:
        return PushResult("gone", status, error)
    if status is None or status == 429 or status >= 500:
        return PushResult("retry", status, error, retry_after)
    return PushResult("rejected", status, error)


_clients: dict[tuple[Any, ...], httpx.Client] = {}
_clients_lock = threading.Lock()


@lru_cache(maxsize=1)
def http2_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("h2") is not None


def http_client(name: str) -> httpx.Client:
    """One pooled client per provider and process.

    ``webpush``: ``apps.core.ssrf.public_client`` — the endpoint is the
    user's, so every connection is checked. FCM / APNs: the operator's
    configured hosts; HTTP/2 (which APNs requires) when the ``h2`` package
    is installed, else HTTP/1.1.
    """
    timeout = float(settings.PUSH_TIMEOUT_SECONDS)
    allow_private = bool(settings.PUSH_ALLOW_PRIVATE_ENDPOINTS)
    key = (name, timeout, allow_private if name == "webpush" else None)
    client = _clients.get(key)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if name == "webpush":
                client = public_client(allow_private=allow_private, timeout=timeout)
            else:
                client = httpx.Client(
                    timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                    follow_redirects=False,
                    trust_env=False,
                    http2=http2_available(),
                )
            _clients[key] = client
        return client


class _Response:
    """What pywebpush reads from a response (it was written for ``requests``)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.reason = response.reason_phrase
        self.text = response.text
        self.headers = response.headers


class _PublicSession:
    """A ``requests``-shaped session for pywebpush whose posts go through ``public_client``."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, *, data: Any = None, headers: Any = None, timeout: Any = None) -> _Response:
        return _Response(self.client.post(url, content=data, headers=dict(headers or {})))


class WebPush:
    name = "webpush"

    def send(self, token: Any, payload: dict[str, Any]) -> PushResult:
        from pywebpush import WebPushException, webpush

        signer = vapid()
        if signer is None:
            return PushResult("rejected", error="VAPID keys are not configured", device_fault=False)
        subscription = json.loads(token.token)
        try:
            response = webpush(
                subscription_info=subscription,
                data=json.dumps(payload, separators=(",", ":")),
                vapid_private_key=signer,
                vapid_claims={"sub": settings.VAPID_SUBJECT},
                ttl=settings.PUSH_TTL_SECONDS,
                headers={"Urgency": "high" if payload.get("urgent") else "normal"},
                requests_session=_PublicSession(http_client("webpush")),  # type: ignore[arg-type]
            )
        except WebPushException as exc:
            response = exc.response
            status = getattr(response, "status_code", None)
            return classify(status, f"push service answered {status}", retry_after_seconds(response))
        except UnsafeAddress:
            return PushResult("rejected", error="endpoint does not resolve to a public address")
        except httpx.HTTPError as exc:
            return PushResult("retry", None, f"{type(exc).__name__}")
        return classify(response.status_code, "")


class Unconfigured:
    """A provider this deployment has no sender for."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, token: Any, payload: dict[str, Any]) -> PushResult:
        return PushResult("rejected", error=f"{self.name} is not configured", device_fault=False)


def provider_for(provider: str) -> PushProvider:
    if provider == "webpush":
        return WebPush()
    if provider == "fcm":
        from .fcm import FCM

        return FCM()
    if provider == "apns":
        from .apns import APNs

        return APNs()
    return Unconfigured(provider)


def push_payload(*, notification: Any) -> dict[str, Any]:
    """What the service worker receives (title, body, deep link), within the payload limit."""
    payload = {
        "notification_id": str(notification.pk),
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "tag": str(notification.inbox_item_id or notification.pk),
    }
    encoded = json.dumps(payload, separators=(",", ":"))
    if len(encoded.encode()) > MAX_PAYLOAD_BYTES:
        payload["body"] = notification.body[:200]
        payload["data"] = {k: v for k, v in notification.data.items() if k in ("url", "inbox_item_id")}
    return payload
