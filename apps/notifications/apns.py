"""APNs sender with a provider token (token-based authentication, ES256 JWT).

Settings: ``APNS_KEY`` (the .p8 signing key: PEM text, or a path to it),
``APNS_KEY_ID``, ``APNS_TEAM_ID``, ``APNS_TOPIC`` (the app's bundle id) and
``APNS_BASE_URL`` (production ``https://api.push.apple.com``, sandbox
``https://api.sandbox.push.apple.com``, or a test server). The key never
leaves this module (no log line, error or result carries it or the token).

The provider token (``{alg: ES256, kid}`` / ``{iss: team, iat}``) is cached
per process and re-signed after ``TOKEN_REFRESH`` (50 min: Apple refuses
tokens older than an hour and throttles ones renewed more often than every
20 minutes); a 403 ``ExpiredProviderToken`` / ``InvalidProviderToken``
drops it and the send is tried once more.

Transport: Apple's servers speak HTTP/2 only. The shared client uses HTTP/2
when the ``h2`` package is installed; ``requirements.lock`` does not have it
today, so requests go out as HTTP/1.1 — enough for the local protocol server
of the tests and a proxy, not for ``api.push.apple.com`` itself until ``h2``
(``httpx[http2]``) is added.

Answers: 200 → sent; 410 (``Unregistered``, ``ExpiredToken``) and 400
``BadDeviceToken`` / ``DeviceTokenNotForTopic`` → gone (the caller deletes
the token); 429 / 5xx / network errors → retry; 403 (credentials) →
rejected without blaming the device; any other 4xx → rejected.
"""

from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings

from .push import PushResult, classify, http_client, retry_after_seconds

TOKEN_REFRESH = 50 * 60
GONE_REASONS = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic", "ExpiredToken"}
STALE_TOKEN_REASONS = {"ExpiredProviderToken", "InvalidProviderToken"}
#: apns-collapse-id is at most 64 bytes
MAX_COLLAPSE_ID = 64


class CredentialsError(Exception):
    """The signing key or its ids are missing or unusable (never says the key's value)."""


@lru_cache(maxsize=4)
def _signing_key(raw: str) -> ec.EllipticCurvePrivateKey:
    text = raw.strip().replace("\\n", "\n")
    if "-----BEGIN" not in text:
        try:
            text = Path(text).read_text()
        except OSError as exc:
            raise CredentialsError("APNS_KEY is neither a PEM key nor a readable file") from exc
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialsError("APNS_KEY is not a readable private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CredentialsError("APNS_KEY is not a P-256 key (the .p8 file from Apple)")
    return key


_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _configured() -> bool:
    return bool(settings.APNS_KEY and settings.APNS_KEY_ID and settings.APNS_TEAM_ID and settings.APNS_TOPIC)


def provider_token(*, now: float | None = None) -> str:
    """The cached provider token, signed anew once it is ``TOKEN_REFRESH`` old."""
    now = time.time() if now is None else now
    key = (settings.APNS_TEAM_ID, settings.APNS_KEY_ID)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached is not None and now - cached[1] < TOKEN_REFRESH:
            return cached[0]
        token = jwt.encode(
            {"iss": settings.APNS_TEAM_ID, "iat": int(now)},
            _signing_key(settings.APNS_KEY),
            algorithm="ES256",
            headers={"kid": settings.APNS_KEY_ID},
        )
        _tokens[key] = (token, now)
        return token


def forget_provider_token() -> None:
    with _tokens_lock:
        _tokens.pop((settings.APNS_TEAM_ID, settings.APNS_KEY_ID), None)


def notification_body(payload: dict[str, Any]) -> dict[str, Any]:
    """``aps`` (the visible alert) plus the app's own keys."""
    return {
        "aps": {
            "alert": {"title": payload.get("title") or "", "body": payload.get("body") or ""},
            "sound": "default",
            "thread-id": str(payload.get("kind") or ""),
        },
        "notification_id": str(payload.get("notification_id") or ""),
        "kind": str(payload.get("kind") or ""),
        "data": payload.get("data") or {},
    }


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason") or "")
    except (ValueError, AttributeError):
        return ""


class APNs:
    name = "apns"

    def send(self, token: Any, payload: dict[str, Any]) -> PushResult:
        if not _configured():
            return PushResult("rejected", error="apns is not configured", device_fault=False)
        client = http_client("apns")
        url = f"{settings.APNS_BASE_URL.rstrip('/')}/3/device/{quote(token.token, safe='')}"
        body = json.dumps(notification_body(payload), separators=(",", ":")).encode()
        headers = {
            "apns-topic": settings.APNS_TOPIC,
            "apns-push-type": "alert",
            "apns-priority": "10",  # an alert the user sees now (5 is for background updates)
            "apns-expiration": str(int(time.time()) + int(settings.PUSH_TTL_SECONDS)),
            "content-type": "application/json",
        }
        tag = str(payload.get("tag") or "").encode()[:MAX_COLLAPSE_ID].decode(errors="ignore")
        if tag:
            headers["apns-collapse-id"] = tag
        try:
            for attempt in (1, 2):
                headers["authorization"] = f"bearer {provider_token()}"
                try:
                    response = client.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    return PushResult("retry", None, f"APNs: {type(exc).__name__}")
                reason = _reason(response) if response.status_code != 200 else ""
                if response.status_code == 403 and reason in STALE_TOKEN_REASONS and attempt == 1:
                    forget_provider_token()
                    continue
                break
        except (CredentialsError, jwt.PyJWTError, ValueError) as exc:
            message = str(exc) if isinstance(exc, CredentialsError) else "APNS_KEY could not sign"
            return PushResult("rejected", error=message, device_fault=False)
        status = response.status_code
        if status == 200:
            return PushResult("sent", status)
        error = f"APNs answered {status} {reason}".strip()
        if status == 410 or reason in GONE_REASONS:
            return PushResult("gone", status, error)
        if status == 403:
            return PushResult("rejected", status, error, device_fault=False)
        return classify(status, error, retry_after_seconds(response), gone=())
