"""Browser-facing middleware of accounts: who the session is, and its 2FA policy.

Both are sync- and async-capable; neither does I/O before a view asks for
the user, so neither forces a thread switch in an async chain.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.http import urlencode

from apps.core.middleware import _Middleware

from . import selectors
from .principals import session_user
from .services import touch_user_session

#: paths the 2FA browser policy never redirects (the 2FA pages themselves, APIs, assets)
_POLICY_EXEMPT_PREFIXES = (
    "/accounts/2fa/",
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/reauthenticate/",
    "/api/",
    "/_allauth/",
    "/healthz",
    "/readyz",
    "/" + settings.STATIC_URL.lstrip("/"),
    "/" + settings.MEDIA_URL.lstrip("/"),
)


def _get_user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        request._cached_user = session_user(request.session)
    return request._cached_user


async def _aget_user(request: HttpRequest) -> Any:
    if not hasattr(request, "_acached_user"):
        request._acached_user = await sync_to_async(session_user)(request.session)
    return request._acached_user


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """``request.user`` as Django's, loaded through the principal cache: no SQL when warm.

    ``apps.accounts.principals.session_user`` keeps every rule of
    ``django.contrib.auth.get_user`` (backend still configured, active user,
    session auth hash); the user and its network come from the cache the
    API-key path uses, with its invalidation. Installs the lazy accessors
    inline in both modes (no thread hop).
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        self.process_request(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        self.process_request(request)
        return await self.get_response(request)

    def process_request(self, request: HttpRequest) -> None:
        if not hasattr(request, "session"):
            raise ImproperlyConfigured("AuthenticationMiddleware needs SessionMiddleware before it.")
        request.user = SimpleLazyObject(lambda: _get_user(request))
        request.auser = partial(_aget_user, request)


class UserSessionMiddleware(_Middleware):
    """Browser sessions: ``UserSession`` freshness and the two-factor policy.

    * keeps ``UserSession.last_seen_at`` fresh (≤ every 5 min); a revoked row
      ends the session;
    * a user with 2FA whose session did not pass it (enrolled elsewhere after
      this session signed in) is sent to ``account_2fa_verify``;
    * a network or organization policy requiring 2FA sends users without a
      device to the enrolment page (``account_2fa``).

    API paths are left to DRF (no work here); browser pages check in one
    thread hop when the chain is async.
    """

    def handle(self, request: HttpRequest) -> HttpResponse:
        self._remember_key(request)
        redirect = self._enforce(request)
        if redirect is not None:
            return redirect
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        self._remember_key(request)
        if not request.path.startswith(_POLICY_EXEMPT_PREFIXES):
            redirect = await sync_to_async(self._enforce)(request)
            if redirect is not None:
                return redirect
        return await self.get_response(request)

    @staticmethod
    def _remember_key(request: HttpRequest) -> None:
        session = getattr(request, "session", None)
        request._colony_session_key_at_start = getattr(session, "session_key", None)

    def _enforce(self, request: HttpRequest) -> HttpResponse | None:
        # APIs authenticate (and touch sessions) in DRF; allauth-headless swaps in the
        # X-Session-Token session and needs request.user unevaluated until then
        if request.path.startswith(_POLICY_EXEMPT_PREFIXES):
            return None
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is None or user is None or not user.is_authenticated:
            return None
        if not touch_user_session(session_key=session.session_key):
            logout(request)
            return None
        if user.is_ai:
            return None
        if not selectors.session_passed_mfa(user, session):
            return _redirect("account_2fa_verify", request)
        state = selectors.security_state(user)
        if state["requires_2fa"] and not state["has_2fa"]:
            return _redirect("account_2fa", request)
        return None


def _redirect(urlname: str, request: HttpRequest) -> HttpResponse:
    url = reverse(urlname)
    if request.method == "GET":
        url = f"{url}?{urlencode({'next': request.get_full_path()})}"
    return HttpResponseRedirect(url)
