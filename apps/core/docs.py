"""The API docs pages (Swagger UI, ReDoc): pinned assets from our static files, nothing external.

drf-spectacular-sidecar ships Swagger UI and ReDoc as static files
(``SWAGGER_UI_DIST`` / ``REDOC_DIST`` = ``"SIDECAR"``); our ReDoc template
drops the Google Fonts links. ReDoc's side menu still renders an ``<img>``
of a remote logo, so both pages send a Content-Security-Policy that lets
them load only from our own origin: offline the docs render fully and a
third-party asset can never load, even if a dependency adds one.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",  # the pages' inline initialisation
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",  # ReDoc's search worker
        "connect-src 'self'",
        "frame-ancestors 'none'",
    )
)


class _Offline:
    @extend_schema(exclude=True)  # the pages themselves are not API operations (as spectacular's own)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().get(request, *args, **kwargs)  # type: ignore[misc]
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class SwaggerView(_Offline, SpectacularSwaggerView):
    pass


class RedocView(_Offline, SpectacularRedocView):
    template_name = "api_docs/redoc.html"
