"""DRF content negotiation with a shortcut for the common case.

Nearly every API call asks for JSON (no ``Accept``, ``*/*`` or
``application/json``) and the first renderer is JSON: then the answer is
known without parsing and ranking media types. Anything else — another
``Accept``, ``?format=``, a format suffix — goes through DRF's negotiation
unchanged.
"""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation

_PLAIN_JSON = frozenset({"", "*/*", "application/json"})


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request: Any, renderers: list, format_suffix: str | None = None) -> tuple:
        if (
            renderers
            and renderers[0].media_type == "application/json"
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "").strip() in _PLAIN_JSON
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
