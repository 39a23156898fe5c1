"""Every allauth-headless endpoint (``/_allauth/…``, allauth's and ours) runs through ``guard``.

``config/urls.py`` mounts ``guarded_allauth_urls()``: allauth's headless URL
tree with each view wrapped, names and namespaces unchanged; our own
headless views (``headless_urls``) are guarded the same way. The wrapper
adds, before allauth sees the request, three rules allauth does not have:

* **one safe JSON reader** — a non-GET body goes through
  ``apps.core.parsers.loads`` (size and depth limits, UTF-8, valid JSON, an
  object): a refused body is a 400 in allauth's error shape, never the
  ``RecursionError`` allauth's own ``json.loads`` raises on deep nesting;
* **no half-authenticated session** — a session whose user has 2FA but that
  has not passed it (``permissions.session_refusal``) reads as signed out:
  the browser client's ``request.user`` becomes anonymous, the app client's
  ``X-Session-Token`` is dropped (allauth then starts a fresh session). So
  ``GET auth/session`` is a 401 and nothing (adding an email, changing the
  password…) runs as that user; signing in again goes through the login
  stages, 2FA included. Logging out (``DELETE auth/session``) still works;
* **no network, no flow** — a request that resolves no network (a fresh
  database before ``bootstrap_colony``, a host that names no network and no
  default) is a 503 ``no_network`` saying so, never a 500.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver

from apps.core.parsers import UnsafeJSON, loads
from apps.core.tenancy import NO_NETWORK_MESSAGE

from .permissions import session_refusal


def _error(message: str, code: str, status: int = 400) -> HttpResponse:
    return JsonResponse({"status": status, "errors": [{"message": message, "code": code}]}, status=status)


def body_refusal(request: HttpRequest) -> HttpResponse | None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    try:
        raw = request.body
    except RequestDataTooBig:
        return _error("The body is too large.", "body_too_large")
    if not raw:
        return None
    try:
        data = loads(raw)
    except UnsafeJSON as exc:
        return _error(exc.message, exc.code)
    if not isinstance(data, dict):
        return _error("The body must be a JSON object.", "invalid_json")
    return None


def _is_logout(request: HttpRequest) -> bool:
    return request.method == "DELETE" and request.path.rstrip("/").endswith("/auth/session")


def _app_token_session(request: HttpRequest) -> tuple[Any, Any]:
    from allauth.core.internal.sessionkit import get_session_user
    from allauth.headless import app_settings

    strategy = app_settings.TOKEN_STRATEGY
    token = strategy.get_session_token(request)
    if not token:
        return None, None
    session = strategy.lookup_session(token)
    if session is None:
        return None, None
    return get_session_user(session), session


def drop_half_authenticated(request: HttpRequest) -> None:
    """A session that has not passed its second factor reads as signed out (see the module)."""
    if _is_logout(request):
        return
    if "/_allauth/app/" in request.path:
        user, session = _app_token_session(request)
        if user is not None and not _fully_authenticated(user, session):
            request.META.pop("HTTP_X_SESSION_TOKEN", None)
            request.__dict__.pop("headers", None)  # HttpRequest.headers is cached from META
        return
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not _fully_authenticated(user, request.session):
        request.user = AnonymousUser()


def _fully_authenticated(user: Any, session: Any) -> bool:
    return session_refusal(user, session) is None


def _no_network(request: HttpRequest) -> bool:
    """The host names no network and there is no default (read from the host alone: the
    principal is not known yet for app clients, and ``request.network`` must not be fixed
    before allauth has authenticated the session token)."""
    from apps.networks.selectors import network_for_host

    return network_for_host(request.get_host()) is None


def guard(view: Any) -> Any:
    if getattr(view, "colony_guarded", False):
        return view

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = body_refusal(request)
        if refused is not None:
            return refused
        if _no_network(request):
            return _error(NO_NETWORK_MESSAGE, "no_network", status=503)
        drop_half_authenticated(request)
        return view(request, *args, **kwargs)

    guarded.colony_guarded = True  # type: ignore[attr-defined]
    return guarded


def guard_patterns(patterns: list) -> list:
    """A copy of a URL tree with every view guarded (names, namespaces and kwargs kept)."""
    out: list = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            out.append(
                URLResolver(
                    entry.pattern,
                    guard_patterns(entry.url_patterns),
                    entry.default_kwargs,
                    entry.app_name,
                    entry.namespace,
                )
            )
        elif isinstance(entry, URLPattern):
            out.append(URLPattern(entry.pattern, guard(entry.callback), entry.default_args, entry.name))
        else:
            out.append(entry)
    return out


def guarded_allauth_urls() -> tuple[list, str]:
    """``include()`` argument for ``/_allauth/``: allauth's headless URLs, guarded (namespace kept)."""
    from allauth.headless import urls as allauth_headless_urls

    return guard_patterns(allauth_headless_urls.urlpatterns), allauth_headless_urls.app_name
