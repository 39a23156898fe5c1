"""Where an LLM call may go: base-URL validation (SSRF) and the resolved endpoint.

A base URL must be ``https`` and its host must resolve only to global
addresses — no loopback, private, link-local, CGNAT or reserved ranges —
checked when a config is saved and again before every call (DNS can change).
``AI_PROVIDER_ALLOW_PRIVATE_URLS`` lifts both rules (tests, a local Ollama);
network-level configs, which only staff create, may point anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.core.exceptions import ValidationFailed
from apps.core.ssrf import check_public_url


@dataclass(frozen=True)
class Endpoint:
    """A resolved OpenAI-compatible endpoint (holds the decrypted key: never log it)."""

    base_url: str
    api_key: str
    provider: str
    headers: dict[str, str] = field(default_factory=dict)
    #: the config may point at private addresses (staff network config, or the setting)
    allow_private: bool = False

    def __repr__(self) -> str:  # keep the key out of tracebacks and logs
        return f"Endpoint({self.provider}, {self.base_url})"


def check_base_url(url: str, *, allow_private: bool = False) -> str:
    """The normalised base URL, or ``ValidationFailed`` (field ``base_url``); the rule is core's
    (``apps.core.ssrf.check_public_url``), shared with the integrations' HTTP connector."""
    return check_public_url(
        url, field="base_url", allow_private=allow_private or settings.AI_PROVIDER_ALLOW_PRIVATE_URLS
    )


MAX_HEADERS_BYTES = 4096
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def parse_extra_headers(value: Any) -> dict[str, str]:
    """Validate client-sent extra headers (a flat object of strings)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed("Extra headers are a JSON object of strings.", field="extra_headers")
    out: dict[str, str] = {}
    for name, header_value in value.items():
        if not isinstance(name, str) or not isinstance(header_value, str):
            raise ValidationFailed("Extra headers are a JSON object of strings.", field="extra_headers")
        clean = name.strip()
        if not clean or any(c in clean for c in ":\r\n ") or clean.lower() in _FORBIDDEN_HEADERS:
            raise ValidationFailed(f"{name!r} cannot be set as a header.", field="extra_headers")
        if "\r" in header_value or "\n" in header_value:
            raise ValidationFailed(f"The value of {name!r} has a line break.", field="extra_headers")
        out[clean] = header_value
    if len(json.dumps(out)) > MAX_HEADERS_BYTES:
        raise ValidationFailed(
            f"Extra headers are limited to {MAX_HEADERS_BYTES} bytes.", field="extra_headers"
        )
    return out
