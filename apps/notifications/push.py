"""Push providers behind one interface: Web Push (VAPID, pywebpush), FCM and APNs.

``provider_for(token).send(token, payload)`` returns a ``PushResult``:
``sent``; ``gone`` (404/410: the subscription no longer exists, the caller
deletes the token); ``retry`` (429, 5xx, network errors: try again later);
``rejected`` (any other refusal: this message will never be accepted).

Web Push subscriptions are checked when registered (``parse_web_subscription``)
and their endpoint again before every send: outside tests
(``PUSH_ALLOW_PRIVATE_ENDPOINTS``) an endpoint must be https on a public
address, never loopback, private, link-local or reserved (no SSRF through a
crafted subscription).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from apps.core.exceptions import ValidationFailed
from apps.core.masking import mask_secret
from apps.core.ssrf import is_public_address, resolve

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
    """The endpoint URL, or a 400 when it is malformed or (outside tests) not a public https host."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise ValidationFailed(
            f"The subscription endpoint must be a URL of at most {MAX_ENDPOINT_LENGTH} characters.",
            field=field,
            code="invalid_endpoint",
        )
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        parts.port  # noqa: B018 — raises ValueError for a bad port
    except ValueError as exc:
        raise ValidationFailed(
            "The subscription endpoint is not a valid URL.", field=field, code="invalid_endpoint"
        ) from exc
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise ValidationFailed(
            "The subscription endpoint is not a valid URL.", field=field, code="invalid_endpoint"
        )
    if settings.PUSH_ALLOW_PRIVATE_ENDPOINTS:
        return endpoint
    if parts.scheme != "https":
        raise ValidationFailed(
            "The subscription endpoint must use https.", field=field, code="invalid_endpoint"
        )
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if (
        host.lower() in ("localhost", "localhost.localdomain")
        or host.lower().endswith(".localhost")
        or (literal is not None and not is_public_address(literal))
    ):
        raise ValidationFailed(
            "Push endpoints on private or loopback addresses are not allowed.",
            field=field,
            code="endpoint_not_allowed",
        )
    return endpoint


def endpoint_resolves_publicly(endpoint: str) -> bool:
    """Send-time check (the host may resolve elsewhere than when it was registered)."""
    if settings.PUSH_ALLOW_PRIVATE_ENDPOINTS:
        return True
    parts = urlsplit(endpoint)
    if not parts.hostname:
        return False
    try:
        addresses = resolve(parts.hostname, parts.port or 443)
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(is_public_address(a) for a in addresses)


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


def _classify(status: int | None, error: str, retry_after: Any = None) -> PushResult:
    if status is not None and 200 <= status < 300:
        return PushResult("sent", status)
    if status in (404, 410):
        return PushResult("gone", status, error)
    if status is None or status == 429 or status >= 500:
        try:
            seconds = int(retry_after) if retry_after is not None else None
        except (TypeError, ValueError):
            seconds = None
        return PushResult("retry", status, error, seconds)
    return PushResult("rejected", status, error)


class WebPush:
    def send(self, token: Any, payload: dict[str, Any]) -> PushResult:
        import requests
        from pywebpush import WebPushException, webpush

        signer = vapid()
        if signer is None:
            return PushResult("rejected", error="VAPID keys are not configured")
        subscription = json.loads(token.token)
        if not endpoint_resolves_publicly(subscription["endpoint"]):
            return PushResult("rejected", error="endpoint does not resolve to a public address")
        try:
            response = webpush(
                subscription_info=subscription,
                data=json.dumps(payload, separators=(",", ":")),
                vapid_private_key=signer,
                vapid_claims={"sub": settings.VAPID_SUBJECT},
                ttl=settings.PUSH_TTL_SECONDS,
                timeout=settings.PUSH_TIMEOUT_SECONDS,
                headers={"Urgency": "high" if payload.get("urgent") else "normal"},
            )
        except WebPushException as exc:
            response = exc.response
            status = getattr(response, "status_code", None)
            retry_after = response.headers.get("Retry-After") if response is not None else None
            return _classify(status, f"push service answered {status}", retry_after)
        except requests.RequestException as exc:
            return PushResult("retry", None, f"{type(exc).__name__}")
        return _classify(response.status_code, "")


class Unconfigured:
    """FCM and APNs need provider credentials this deployment does not have yet."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, token: Any, payload: dict[str, Any]) -> PushResult:
        return PushResult("rejected", error=f"{self.name} is not configured")


def provider_for(provider: str) -> PushProvider:
    if provider == "webpush":
        return WebPush()
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
