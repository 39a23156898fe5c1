"""FCM HTTP v1 sender: a service account's OAuth token, then ``messages:send`` per device.

Credentials (``FCM_SERVICE_ACCOUNT``: the account's JSON text, or a path to
it) come from the environment and never leave this module: no log line,
error or result carries the private key, the signed assertion or the access
token. The access token is obtained with a signed RS256 JWT (RFC 7523 bearer
grant at the account's ``token_uri`` or ``FCM_TOKEN_URL``) and cached per
process until a minute before it expires; a 401 from FCM drops it and the
send is tried once more with a fresh one.

Answers (``PushResult``): 200 → sent; 404 / ``UNREGISTERED`` and 403
``SENDER_ID_MISMATCH`` → gone (the caller deletes the token); 429 / 5xx /
network errors → retry (with ``Retry-After``); credentials or configuration
refused → rejected without blaming the device; any other 4xx → rejected.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import jwt
from django.conf import settings

from .push import PushResult, classify, http_client, retry_after_seconds

logger = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
ASSERTION_LIFETIME = 3600
#: an access token is replaced this long before FCM would refuse it
EXPIRY_MARGIN = 60
GONE_CODES = {"UNREGISTERED", "SENDER_ID_MISMATCH"}


class CredentialsError(Exception):
    """The service account is missing or unusable (the message says which part, never its value)."""


@dataclass(frozen=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key: str
    private_key_id: str
    token_url: str

    def __repr__(self) -> str:  # never the key
        return f"ServiceAccount({self.client_email!r}, project={self.project_id!r})"


@lru_cache(maxsize=4)
def _parse_account(raw: str, project_id: str, token_url: str) -> ServiceAccount:
    text = raw.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).read_text()
        except OSError as exc:
            raise CredentialsError("FCM_SERVICE_ACCOUNT is neither JSON nor a readable file") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CredentialsError("FCM_SERVICE_ACCOUNT is not valid JSON") from exc
    if not isinstance(data, dict):
        raise CredentialsError("FCM_SERVICE_ACCOUNT is not a JSON object")
    missing = [k for k in ("client_email", "private_key") if not isinstance(data.get(k), str) or not data[k]]
    project = project_id or data.get("project_id") or ""
    if not project:
        missing.append("project_id")
    if missing:
        raise CredentialsError(f"the FCM service account lacks {', '.join(missing)}")
    return ServiceAccount(
        project_id=str(project),
        client_email=data["client_email"],
        private_key=data["private_key"],
        private_key_id=str(data.get("private_key_id") or ""),
        token_url=token_url or str(data.get("token_uri") or DEFAULT_TOKEN_URL),
    )


def service_account() -> ServiceAccount | None:
    if not settings.FCM_SERVICE_ACCOUNT:
        return None
    return _parse_account(settings.FCM_SERVICE_ACCOUNT, settings.FCM_PROJECT_ID, settings.FCM_TOKEN_URL)


# --- OAuth access token -------------------------------------------------------------

_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class TokenUnavailable(Exception):
    def __init__(self, result: PushResult) -> None:
        self.result = result


def signed_assertion(account: ServiceAccount, now: float) -> str:
    """The RS256 JWT the token endpoint exchanges for an access token."""
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_url,
        "iat": int(now),
        "exp": int(now) + ASSERTION_LIFETIME,
    }
    headers = {"kid": account.private_key_id} if account.private_key_id else None
    try:
        return jwt.encode(claims, account.private_key, algorithm="RS256", headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise CredentialsError("the FCM service account's private_key is not an RSA key") from exc


def _cache_key(account: ServiceAccount) -> tuple[str, str, str]:
    return (account.client_email, account.token_url, account.private_key_id)


def forget_access_token(account: ServiceAccount) -> None:
    with _tokens_lock:
        _tokens.pop(_cache_key(account), None)


def access_token(account: ServiceAccount, *, client: httpx.Client) -> str:
    """A cached access token, or a fresh one from the token endpoint (``TokenUnavailable`` if refused)."""
    key = _cache_key(account)
    now = time.time()
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        # under the lock: concurrent senders of this process make one exchange, not one each
        try:
            response = client.post(
                account.token_url,
                data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": signed_assertion(account, now),
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise TokenUnavailable(
                PushResult("retry", None, f"FCM token endpoint: {type(exc).__name__}")
            ) from exc
        if response.status_code != 200:
            status = response.status_code
            error = f"FCM token endpoint answered {status}"
            if status == 429 or status >= 500:
                raise TokenUnavailable(PushResult("retry", status, error, retry_after_seconds(response)))
            # invalid_grant and friends: the credentials, not the device
            raise TokenUnavailable(PushResult("rejected", status, error, device_fault=False))
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = int(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenUnavailable(
                PushResult("retry", 200, "FCM token endpoint answered without an access token")
            ) from exc
        if not isinstance(token, str) or not token:
            raise TokenUnavailable(PushResult("retry", 200, "FCM token endpoint answered an empty token"))
        _tokens[key] = (token, now + max(lifetime - EXPIRY_MARGIN, 1))
        return token


# --- messages:send ------------------------------------------------------------------


def message(device_token: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The v1 message: a visible notification plus string-valued data for the app."""
    data = {
        "notification_id": str(payload.get("notification_id") or ""),
        "kind": str(payload.get("kind") or ""),
        "tag": str(payload.get("tag") or ""),
        "url": str((payload.get("data") or {}).get("url") or ""),
        "data": json.dumps(payload.get("data") or {}, separators=(",", ":")),
    }
    return {
        "message": {
            "token": device_token,
            "notification": {"title": payload.get("title") or "", "body": payload.get("body") or ""},
            "data": data,
            "android": {
                "priority": "high" if payload.get("urgent") else "normal",
                "ttl": f"{int(settings.PUSH_TTL_SECONDS)}s",
                "collapse_key": data["tag"][:100] or None,
            },
            "apns": {"headers": {"apns-expiration": str(int(time.time()) + int(settings.PUSH_TTL_SECONDS))}},
        }
    }


def _error_code(response: httpx.Response) -> str:
    """``UNREGISTERED`` etc. from the FcmError detail, else the status name (``NOT_FOUND``)."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return ""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status") or "")


class FCM:
    name = "fcm"

    def send(self, token: Any, payload: dict[str, Any]) -> PushResult:
        try:
            account = service_account()
            if account is None:
                return PushResult("rejected", error="fcm is not configured", device_fault=False)
            client = http_client("fcm")
            url = f"{settings.FCM_BASE_URL.rstrip('/')}/v1/projects/{account.project_id}/messages:send"
            body = message(token.token, payload)
            for attempt in (1, 2):
                bearer = access_token(account, client=client)
                try:
                    response = client.post(url, json=body, headers={"Authorization": f"Bearer {bearer}"})
                except httpx.HTTPError as exc:
                    return PushResult("retry", None, f"FCM: {type(exc).__name__}")
                if response.status_code == 401 and attempt == 1:
                    forget_access_token(account)  # revoked or expired early: one fresh token
                    continue
                break
        except CredentialsError as exc:
            return PushResult("rejected", error=str(exc), device_fault=False)
        except TokenUnavailable as exc:
            return exc.result
        status = response.status_code
        if 200 <= status < 300:
            return PushResult("sent", status)
        code = _error_code(response)
        error = f"FCM answered {status} {code}".strip()
        if status == 404 or code in GONE_CODES:
            return PushResult("gone", status, error)
        if status in (401, 403):
            return PushResult("rejected", status, error, device_fault=False)
        return classify(status, error, retry_after_seconds(response), gone=())
