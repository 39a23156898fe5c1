from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from .tenancy import resolve_network

_EXEMPT_PREFIXES = ("/healthz", "/readyz", "/" + settings.STATIC_URL.lstrip("/"))


class NetworkMiddleware:
    """Sets ``request.network`` (lazily) for Django views.

    DRF views re-resolve after their own authentication (API keys, session
    tokens) in ``apps.core.api.NetworkContextMixin``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(_EXEMPT_PREFIXES):
            request.network = SimpleLazyObject(
                lambda: resolve_network(request, user=getattr(request, "user", None))
            )
        return self.get_response(request)
