"""Amazon SNS message signatures (SignatureVersion 1 = SHA1, 2 = SHA256, RSA PKCS#1 v1.5).

The signing certificate is fetched only from a URL whose host matches
``SES_SNS_HOST_PATTERN`` (``sns.<region>.amazonaws.com`` by default, https
only), and cached (Redis, a day; per process too). The same host rule holds
for a subscription's ``SubscribeURL``.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.cache import cache

CERT_CACHE_SECONDS = 24 * 3600
MAX_CERT_BYTES = 16 * 1024

_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


class InvalidSNSMessage(Exception):
    """Unsigned, forged, or from a host we do not trust."""


def allowed_url(url: Any) -> bool:
    if not isinstance(url, str) or len(url) > 2048:
        return False
    parts = urlsplit(url)
    if parts.scheme != "https" and (settings.SES_SNS_REQUIRE_HTTPS or parts.scheme != "http"):
        return False
    if parts.username or parts.password:
        return False
    return bool(re.match(settings.SES_SNS_HOST_PATTERN, parts.netloc or ""))


def string_to_sign(message: dict[str, Any]) -> bytes:
    kind = message.get("Type")
    if kind not in _FIELDS:
        raise InvalidSNSMessage(f"unknown SNS message type {kind!r}")
    lines: list[str] = []
    for name in _FIELDS[kind]:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise InvalidSNSMessage(f"missing {name}")
        if not isinstance(value, str):
            raise InvalidSNSMessage(f"{name} is not a string")
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode()


@lru_cache(maxsize=16)
def _load_certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _certificate(url: str) -> x509.Certificate:
    cache_key = f"mailing:sns-cert:{url}"
    pem = cache.get(cache_key)
    if pem is None:
        try:
            response = httpx.get(url, timeout=5, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise InvalidSNSMessage("signing certificate unavailable") from exc
        if response.status_code != 200 or len(response.content) > MAX_CERT_BYTES:
            raise InvalidSNSMessage("signing certificate unavailable")
        pem = response.content
        try:
            _load_certificate(pem)
        except ValueError as exc:
            raise InvalidSNSMessage("signing certificate unreadable") from exc
        cache.set(cache_key, pem, CERT_CACHE_SECONDS)
    return _load_certificate(pem)


def verify(message: Any) -> dict[str, Any]:
    """The message when its signature holds (and its topic is allowed); else ``InvalidSNSMessage``."""
    if not isinstance(message, dict):
        raise InvalidSNSMessage("not a JSON object")
    version = message.get("SignatureVersion")
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)  # noqa: S303 — SNS v1 is SHA1
    if algorithm is None:
        raise InvalidSNSMessage("unsupported signature version")
    url = message.get("SigningCertURL")
    if not allowed_url(url):
        raise InvalidSNSMessage("signing certificate host not allowed")
    topics = settings.SES_SNS_TOPIC_ARNS
    if topics and message.get("TopicArn") not in topics:
        raise InvalidSNSMessage("topic not allowed")
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (ValueError, TypeError) as exc:
        raise InvalidSNSMessage("signature is not base64") from exc
    if not signature:
        raise InvalidSNSMessage("unsigned")
    payload = string_to_sign(message)
    key = _certificate(url).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidSNSMessage("unexpected key type")
    try:
        key.verify(signature, payload, padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise InvalidSNSMessage("bad signature") from exc
    return message
