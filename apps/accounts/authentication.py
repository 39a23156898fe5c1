"""DRF authenticators for people: browser session cookie and allauth's X-Session-Token.

Both keep the session's ``UserSession`` row fresh (``last_seen_at`` at most
every 5 minutes) and refuse a session whose row was revoked.
"""

from __future__ import annotations

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed

SESSION_REVOKED = "This session was signed out."


class CookieSessionAuthentication(SessionAuthentication):
    """The browser's session cookie (CSRF enforced on unsafe methods)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        # the user itself, not Django's lazy proxy (every attribute read through it costs a call)
        result = (_unwrap(result[0]), result[1])
        from .services import touch_user_session

        session = getattr(request._request, "session", None)
        if not touch_user_session(session_key=getattr(session, "session_key", None)):
            raise AuthenticationFailed(SESSION_REVOKED, code="session_revoked")
        return result


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """App clients: ``X-Session-Token`` from allauth headless (the session key).

    ``request.auth`` is the Django session, so the session's key identifies
    its ``UserSession`` row the same way a browser cookie does. An unknown,
    expired or revoked token is a 401.
    """

    def authenticate(self, request):
        token = self.get_session_token(request)
        if not token:
            return None
        result = _authenticate_by_session_token(token)
        if result is None:
            raise AuthenticationFailed("Invalid or expired session token.", code="invalid_session_token")
        user, session = result
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.", code="user_inactive")
        from .services import touch_user_session

        if not touch_user_session(session_key=session.session_key):
            raise AuthenticationFailed(SESSION_REVOKED, code="session_revoked")
        return user, session

    def get_session_token(self, request) -> str | None:
        # allauth reads request.headers, which builds the whole header map for one lookup
        return request.META.get("HTTP_X_SESSION_TOKEN")

    def authenticate_header(self, request) -> str:
        return "Session"


def _authenticate_by_session_token(token: str):
    """allauth's ``authenticate_by_x_session_token`` with the user from the principal cache."""
    from allauth.headless import app_settings

    from .principals import session_user

    session = app_settings.TOKEN_STRATEGY.lookup_session(token)
    if not session:
        return None
    user = session_user(session)
    if user.is_anonymous:
        return None
    return user, session


def _unwrap(user):
    from apps.core.tenancy import unwrap_lazy  # tenancy imports the networks models

    return unwrap_lazy(user)
