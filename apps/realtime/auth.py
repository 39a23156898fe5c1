"""WebSocket authentication: the session cookie (tickets arrive with chat).

Sets ``scope["user"]`` and ``scope["session_key"]``; a socket whose session
is later revoked is closed through the ``session.<key>`` group.
"""

from __future__ import annotations

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _session_is_live(session_key: str | None, user) -> bool:
    from apps.accounts.models import UserSession

    if not session_key or not user.is_authenticated:
        return False
    return UserSession.objects.filter(session_key=session_key, user=user, revoked_at__isnull=True).exists()


class _SessionUserMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope) -> None:
        await super().resolve_scope(scope)
        user = scope["user"]._wrapped if hasattr(scope["user"], "_wrapped") else scope["user"]
        session = scope.get("session")
        session_key = getattr(session, "session_key", None)
        if user is not None and getattr(user, "is_authenticated", False):
            if not await _session_is_live(session_key, user):
                scope["user"] = AnonymousUser()
                return
            scope["session_key"] = session_key


def WebSocketAuthMiddleware(inner):  # noqa: N802 — mirrors channels' AuthMiddlewareStack
    return CookieMiddleware(SessionMiddleware(_SessionUserMiddleware(inner)))
