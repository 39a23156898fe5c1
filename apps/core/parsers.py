"""The one JSON reader of client bodies: size and depth limits, a clear 400, never a 500.

Every surface that reads client JSON goes through ``loads``:

* DRF — ``SafeJSONParser`` is the default parser (``REST_FRAMEWORK``);
* allauth headless — ``apps.accounts.headless_guard`` checks every headless
  body with it before allauth's own ``json.loads``;
* webhooks — their services call ``loads`` on the raw (signed) body.

Limits (settings): ``JSON_MAX_BODY_BYTES`` (default 1 MiB) and
``JSON_MAX_DEPTH`` (default 64 nested arrays/objects). The C decoder runs
first (fast); a document nested deeper than the interpreter's recursion
limit is caught as such, a shallower one is measured without recursion.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class UnsafeJSON(ValueError):
    """A body refused by ``loads``; ``code`` and ``message`` are the 400's."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def max_body_bytes() -> int:
    return int(getattr(settings, "JSON_MAX_BODY_BYTES", 1024 * 1024))


def max_depth() -> int:
    return int(getattr(settings, "JSON_MAX_DEPTH", 64))


def _too_deep(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_size(raw: bytes | str) -> None:
    limit = max_body_bytes()
    if len(raw) > limit:
        raise UnsafeJSON(f"The body is too large (at most {limit} bytes).", "body_too_large")


def loads(raw: bytes | str | bytearray) -> Any:
    """Parse a client's JSON body, or raise ``UnsafeJSON`` (too large, too deep, not JSON)."""
    check_size(raw)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError as exc:
        raise UnsafeJSON("The body is not UTF-8.", "invalid_json") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise UnsafeJSON(f"JSON nested too deeply (at most {max_depth()} levels).", "json_too_deep") from exc
    except ValueError as exc:
        raise UnsafeJSON(f"JSON parse error - {exc}", "invalid_json") from exc
    if _too_deep(value, max_depth()):
        raise UnsafeJSON(f"JSON nested too deeply (at most {max_depth()} levels).", "json_too_deep")
    return value


class SafeJSONParser(JSONParser):
    """DRF's JSON parser through ``loads``: too large, too deep or malformed → 400."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        if stream is None:
            return None
        limit = max_body_bytes()
        raw = stream.read(limit + 1)
        try:
            return loads(raw)
        except UnsafeJSON as exc:
            raise ParseError(exc.message, code=exc.code) from exc
