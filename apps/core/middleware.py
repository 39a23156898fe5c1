"""Request-wide middleware of the core; all sync- and async-capable, none doing I/O.

Under ASGI the whole chain runs in one thread hop (``apps.core.handlers``);
these also run natively in an async chain, so they never force a switch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from .cache import request_scope
from .tenancy import resolve_network

_EXEMPT_PREFIXES = ("/healthz", "/readyz", "/" + settings.STATIC_URL.lstrip("/"))


class _Middleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        return self.handle(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    def handle(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError


class RequestScopeMiddleware(_Middleware):
    """Opens the request's memo (``apps.core.cache.request_memo``): values read once per request."""

    def handle(self, request: HttpRequest) -> HttpResponse:
        with request_scope():
            return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        with request_scope():
            return await self.get_response(request)


class NetworkMiddleware(_Middleware):
    """Sets ``request.network`` (lazily) for Django views.

    DRF views re-resolve after their own authentication (API keys, session
    tokens) in ``apps.core.api.NetworkContextMixin``.
    """

    def _install(self, request: HttpRequest) -> None:
        if not request.path.startswith(_EXEMPT_PREFIXES):
            request.network = SimpleLazyObject(
                lambda: resolve_network(request, user=getattr(request, "user", None))
            )

    def handle(self, request: HttpRequest) -> HttpResponse:
        self._install(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        self._install(request)
        return await self.get_response(request)
