"""Encrypted columns.

``EncryptedTextField`` stores AES-256-GCM bytes (see ``crypto``) and decrypts
lazily on attribute access, so loading a list of rows never decrypts. Pair it
with an ``EncryptedHintField`` that keeps a masked hint, computed on write::

    github_token = EncryptedTextField(null=True, blank=True)
    github_token_hint = EncryptedHintField(source="github_token")
"""

from __future__ import annotations

from typing import Any

from django.db import models

from . import crypto
from .masking import mask_secret


class Ciphertext(bytes):
    """Bytes read from the database, not yet decrypted."""


class _EncryptedDescriptor:
    def __init__(self, field: EncryptedTextField) -> None:
        self.field = field

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__.get(self.field.attname)
        if isinstance(value, Ciphertext):
            value = crypto.decrypt(value, aad=self.field.aad)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        if isinstance(value, memoryview):
            value = Ciphertext(bytes(value))
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.BinaryField):
    description = "Text encrypted with AES-256-GCM"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    @property
    def aad(self) -> str:
        return f"{self.model._meta.label_lower}.{self.name}"

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only=private_only)
        setattr(cls, self.attname, _EncryptedDescriptor(self))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return Ciphertext(bytes(value))

    def to_python(self, value):
        if value is None or isinstance(value, str | Ciphertext):
            return value
        if isinstance(value, bytes | memoryview):
            return Ciphertext(bytes(value))
        return str(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            return bytes(value)
        if isinstance(value, str):
            return crypto.encrypt(value, aad=self.aad)
        raise TypeError(f"{self.aad} accepts str or None, got {type(value).__name__}")

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        return connection.Database.Binary(value) if value is not None else None

    def value_to_string(self, obj) -> str:
        return ""  # never serialized (dumpdata, admin history)

    def raw_ciphertext(self, instance) -> bytes | None:
        """The stored bytes without decrypting (None for unsaved plaintext)."""
        value = instance.__dict__.get(self.attname)
        return bytes(value) if isinstance(value, Ciphertext) else None


class EncryptedHintField(models.CharField):
    """Masked hint of an encrypted sibling column, recomputed on every save."""

    def __init__(self, *args: Any, source: str = "", **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for key in ("max_length", "blank", "default", "editable"):
            kwargs.pop(key, None)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        raw = model_instance.__dict__.get(self.source)
        if raw is None:
            value = ""
        elif isinstance(raw, str) and not isinstance(raw, Ciphertext):
            value = mask_secret(raw)
        else:  # unchanged ciphertext: keep the stored hint
            value = getattr(model_instance, self.attname)
        setattr(model_instance, self.attname, value)
        return value


def encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
