"""Validators shared by every app."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not storable as text or jsonb
        return True
    return False


def validate_json_storable(value: Any) -> None:
    """PostgreSQL jsonb refuses NUL characters and lone surrogates, in keys and strings."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _bad_text(item):
                raise ValidationError(
                    "Text may not contain NUL characters or invalid Unicode.", code="invalid"
                )
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _bad_text(key):
                    raise ValidationError(
                        "Keys may not contain NUL characters or invalid Unicode.", code="invalid"
                    )
                stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
