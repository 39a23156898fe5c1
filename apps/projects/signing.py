"""HMAC-SHA256 signatures of infra webhooks and provider commands.

``signature = hex(HMAC-SHA256(INFRA_WEBHOOK_SECRET, f"{timestamp}.{raw_body}"))``
sent as ``X-Colony-Signature`` (optionally ``sha256=`` prefixed) with the unix
``X-Colony-Timestamp``; a timestamp further than
``INFRA_WEBHOOK_TOLERANCE_SECONDS`` (5 minutes) from now is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings

TIMESTAMP_HEADER = "X-Colony-Timestamp"
SIGNATURE_HEADER = "X-Colony-Signature"


class BadSignature(Exception):
    pass


def _secret() -> bytes:
    secret = settings.INFRA_WEBHOOK_SECRET
    if not secret:
        raise BadSignature("INFRA_WEBHOOK_SECRET is not configured")
    return secret.encode()


def sign(timestamp: str, body: bytes) -> str:
    return hmac.new(_secret(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(*, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> None:
    """Raise ``BadSignature`` unless the signature is valid and the timestamp fresh."""
    if not timestamp or not signature:
        raise BadSignature("missing signature headers")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise BadSignature("bad timestamp") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > settings.INFRA_WEBHOOK_TOLERANCE_SECONDS:
        raise BadSignature("stale timestamp")
    expected = sign(timestamp, body)
    given = signature.strip().removeprefix("sha256=")
    if not hmac.compare_digest(expected, given):
        raise BadSignature("signature mismatch")
