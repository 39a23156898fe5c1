"""The one JSON reader of client bodies: size and depth limits, a clear 400, never a 500.

Every surface that reads client JSON goes through ``loads``:

* DRF — ``SafeJSONParser`` is the default parser (``REST_FRAMEWORK``);
* allauth headless — ``apps.accounts.headless_guard`` checks every headless
  body with it before allauth's own ``json.loads``;
* webhooks — their services call ``loads`` on the raw (signed) body.

Limits (settings): ``JSON_MAX_BODY_BYTES`` (default 1 MiB) and
``JSON_MAX_DEPTH`` (default 64 nested arrays/objects). The depth is measured
on the text BEFORE the C decoder runs: the decoder recurses on the C stack,
and where something raised the interpreter's recursion limit (Hypothesis
does while it runs a test; so may a library) 50,000 nested ``[`` overflow
the stack — a segfault, not a RecursionError. A body with no more opening
brackets than the limit is not scanned at all (``str.count`` in C).
"""

from __future__ import annotations

import json
import re
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


_TOKEN = re.compile(r'[\\"\[\]{}]')


def _too_deep(text: str, limit: int) -> bool:
    """Whether the text nests arrays/objects deeper than ``limit`` (brackets inside strings ignored).

    One pass over the structural characters only (found by the C regex engine),
    linear in their number. Where the text is not JSON the decoder stops at or
    before the point this scan could misread, so it never recurses deeper.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, skip = 0, False, -1
    for match in _TOKEN.finditer(text):
        at, char = match.start(), match.group()
        if at < skip:
            continue
        if in_string:
            if char == "\\":
                skip = at + 2  # the next character is escaped
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _nested_too_deeply() -> UnsafeJSON:
    return UnsafeJSON(f"JSON nested too deeply (at most {max_depth()} levels).", "json_too_deep")


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
    if _too_deep(text, max_depth()):
        raise _nested_too_deeply()
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:  # a recursion limit set below JSON_MAX_DEPTH
        raise _nested_too_deeply() from exc
    except ValueError as exc:
        raise UnsafeJSON(f"JSON parse error - {exc}", "invalid_json") from exc


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
