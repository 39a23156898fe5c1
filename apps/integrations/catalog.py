"""The toolkit and tool catalogue: the provider's (cached 1 h in the shared cache) plus the built-in ``http``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache

from .connectors import HTTP_TOOLS, ConnectorError, Tool, composio

CACHE_SECONDS = 3600
HTTP_TOOLKIT = {"slug": "http", "name": "HTTP endpoint", "description": "Call an allowlisted HTTPS API."}


def toolkits() -> list[dict[str, Any]]:
    """Every toolkit one can connect: the provider's (when configured) and ``http``."""
    items: list[dict[str, Any]] = []
    if settings.COMPOSIO_API_KEY:
        cached = cache.get("integrations:toolkits")
        if cached is None:
            cached = composio().toolkits()
            cache.set("integrations:toolkits", cached, CACHE_SECONDS)
        items = list(cached)
    return [*items, HTTP_TOOLKIT]


def tools(toolkit: str) -> list[Tool]:
    if toolkit == "http":
        return list(HTTP_TOOLS)
    key = f"integrations:tools:{toolkit}"
    cached = cache.get(key)
    if cached is None:
        cached = [t.__dict__ for t in composio().tools(toolkit)]
        cache.set(key, cached, CACHE_SECONDS)
    return [Tool(**t) for t in cached]


def tool(toolkit: str, slug: str) -> Tool | None:
    try:
        return next((t for t in tools(toolkit) if t.slug == slug), None)
    except ConnectorError:
        return None
