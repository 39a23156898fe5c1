from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .services import touch_user_session


class UserSessionMiddleware:
    """Keeps the browser session's UserSession.last_seen_at fresh (≤ every 5 min)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated:
            touch_user_session(session_key=session.session_key)
        return response
