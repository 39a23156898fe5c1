"""Input rules for settings and client preferences (shared by the API and services)."""

from __future__ import annotations

import json
import re
import zoneinfo
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.validators import validate_json_storable

NOTIFICATION_CHANNELS = ("push", "email", "in_app")
NOTIFICATION_KIND = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")
MAX_NOTIFICATION_KINDS = 100
PREFERENCES_MAX_DEPTH = 8


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> str:
    if value not in _timezones():
        raise ValidationError("Unknown time zone; use an IANA name such as Europe/Berlin.")
    return value


def locale_choices() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def validate_notification_choices(value: Any) -> dict[str, dict[str, bool]]:
    """``{kind: {push?, email?, in_app?: bool}}``; omitted channels keep their default."""
    if not isinstance(value, dict):
        raise ValidationError("Must be an object of notification kinds.")
    if len(value) > MAX_NOTIFICATION_KINDS:
        raise ValidationError(f"At most {MAX_NOTIFICATION_KINDS} notification kinds.")
    for kind, channels in value.items():
        if not NOTIFICATION_KIND.match(kind):
            raise ValidationError(f"{kind!r} is not a notification kind.")
        if not isinstance(channels, dict) or not channels:
            raise ValidationError(f'{kind}: must be an object such as {{"push": true, "email": false}}.')
        for channel, enabled in channels.items():
            if channel not in NOTIFICATION_CHANNELS:
                raise ValidationError(
                    f"{kind}: unknown channel {channel!r} (use {', '.join(NOTIFICATION_CHANNELS)})."
                )
            if not isinstance(enabled, bool):
                raise ValidationError(f"{kind}.{channel}: must be true or false.")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of containers (a scalar is 0, ``{}`` is 1); iterative, so no recursion limit."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            depth += 1
            stack.extend((child, depth) for child in item.values())
        elif isinstance(item, list):
            depth += 1
            stack.extend((child, depth) for child in item)
        deepest = max(deepest, depth)
    return deepest


def serialized_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def validate_preferences_data(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("Must be a JSON object.")
    validate_json_storable(value)  # first: the size check encodes the text
    limit = settings.USER_PREFERENCES_MAX_BYTES
    if serialized_size(value) > limit:
        raise ValidationError(f"Preferences may be at most {limit} bytes of JSON.", code="too_large")
    if json_depth(value) > PREFERENCES_MAX_DEPTH:
        raise ValidationError(
            f"Preferences may nest at most {PREFERENCES_MAX_DEPTH} levels.", code="too_deep"
        )
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: objects merge recursively, ``null`` removes a key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
