"""AES-256-GCM for secrets at rest.

Stored form: ``key_id (1 byte) ‖ nonce (12 bytes) ‖ ciphertext+tag``. The
associated data binds a value to its column (``app.model.field``), so a
ciphertext copied into another column fails to decrypt. Keys come from
``settings.FIELD_ENCRYPTION_KEYS`` ({id: 32 bytes}, newest first).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored secret could not be decrypted (unknown key, tampering, or wrong column)."""


def _keys() -> dict[int, bytes]:
    return settings.FIELD_ENCRYPTION_KEYS


def current_key_id() -> int:
    return next(iter(_keys()))


def encrypt(plaintext: str, *, aad: str) -> bytes:
    key_id = current_key_id()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_keys()[key_id]).encrypt(nonce, plaintext.encode("utf-8"), aad.encode())
    return bytes([key_id]) + nonce + sealed


def key_id_of(blob: bytes) -> int:
    if not blob:
        raise DecryptionError("empty ciphertext")
    return blob[0]


def decrypt(blob: bytes, *, aad: str) -> str:
    blob = bytes(blob)
    if len(blob) < 1 + NONCE_BYTES + 16:
        raise DecryptionError(f"ciphertext for {aad} is truncated")
    key_id = blob[0]
    key = _keys().get(key_id)
    if key is None:
        raise DecryptionError(
            f"ciphertext for {aad} uses key {key_id}, which is not in FIELD_ENCRYPTION_KEYS"
        )
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad.encode()).decode("utf-8")
    except InvalidTag as exc:
        raise DecryptionError(
            f"ciphertext for {aad} failed authentication (tampered, or copied from another column)"
        ) from exc
