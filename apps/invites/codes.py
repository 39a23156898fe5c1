"""Invite code text: Crockford base32, ``XXXX-XXXX``, 40 random bits, case-insensitive.

Reading is forgiving the Crockford way: lower case, spaces and hyphens are
ignored, ``I``/``L`` read as ``1`` and ``O`` as ``0``.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8
_READ = str.maketrans({"I": "1", "L": "1", "O": "0"})
_ALLOWED = frozenset(ALPHABET)


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise(text: str | None) -> str | None:
    """The stored form of what a person typed, or None when it cannot be a code."""
    if not text or len(text) > 32:
        return None
    raw = "".join(ch for ch in str(text).upper() if ch not in " -\t").translate(_READ)
    if len(raw) != LENGTH or not set(raw) <= _ALLOWED:
        return None
    return f"{raw[:4]}-{raw[4:]}"
