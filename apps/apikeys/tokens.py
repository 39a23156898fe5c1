"""Key material: ``col_<prefix>_<secret>``.

The prefix (10 characters of ``[A-Za-z0-9]``, so it never contains the ``_``
separator) is stored in clear and identifies the row; the secret (32 random
bytes, URL-safe base64) is only stored as HMAC-SHA256 keyed with
``settings.API_KEY_PEPPER`` and compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

from django.conf import settings

KEY_PREFIX = "col_"
PREFIX_LENGTH = 10
SECRET_BYTES = 32
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_PREFIX_RE = re.compile(r"^[A-Za-z0-9]{8,12}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_\-]{20,128}$")


@dataclass(frozen=True)
class NewKey:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        return f"{KEY_PREFIX}{self.prefix}_{self.secret}"

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def generate() -> NewKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return NewKey(prefix=prefix, secret=secrets.token_urlsafe(SECRET_BYTES))


def hash_secret(secret: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def parse(token: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None."""
    if not token.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or not _PREFIX_RE.match(prefix) or not _SECRET_RE.match(secret):
        return None
    return prefix, secret
