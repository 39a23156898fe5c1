"""DRF authenticators for people: browser session cookie and allauth's X-Session-Token."""

from __future__ import annotations

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from rest_framework.authentication import SessionAuthentication


class CookieSessionAuthentication(SessionAuthentication):
    """The browser's session cookie (CSRF enforced on unsafe methods)."""


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """App clients: ``X-Session-Token`` from allauth headless (the session key).

    ``request.auth`` is the Django session, so the session's key identifies
    its ``UserSession`` row the same way a browser cookie does.
    """

    def authenticate_header(self, request) -> str:
        return "Session"
