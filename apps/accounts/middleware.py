from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from . import selectors
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


class UserSessionMiddleware:
    """Browser sessions: ``UserSession`` freshness and the two-factor policy.

    * keeps ``UserSession.last_seen_at`` fresh (≤ every 5 min); a revoked row
      ends the session;
    * a user with 2FA whose session did not pass it (enrolled elsewhere after
      this session signed in) is sent to ``account_2fa_verify``;
    * a network or organization policy requiring 2FA sends users without a
      device to the enrolment page (``account_2fa``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        request._colony_session_key_at_start = getattr(session, "session_key", None)
        redirect = self._enforce(request)
        if redirect is not None:
            return redirect
        return self.get_response(request)

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
