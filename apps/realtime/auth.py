"""WebSocket authentication: a single-use ticket (``/ws/?ticket=…``) or the session cookie.

Sets ``scope["user"]`` and ``scope["session_key"]`` (``scope["api_key"]`` for a key's ticket); a socket whose session
is later revoked (or signed out) is closed through the ``session.<key>`` group.
A principal the API would refuse is refused here too (the scope stays
anonymous, ``scope["auth_refusal"]`` says why): a suspended or deleted account, a disabled agent, a
network that is not active, a person's session that has not passed its
second factor, a person whose network or organization requires 2FA they have not
enrolled (``apps.accounts.permissions.account_refusal`` / ``session_refusal`` /
``enrolment_refusal``, the API's rules). A ticket
(``apps.realtime.tickets``) is redeemed once; an unknown, reused or expired
one leaves the socket anonymous (refused), whatever cookie comes with it. A
ticket issued to an API key needs the key to be still active at connect.

A socket left anonymous is refused here, before a consumer is built (the
handshake is answered with a close: HTTP 403): a refused client costs no
channel-layer read.
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


@database_sync_to_async
def _ticket_principal(ticket: str):
    from apps.accounts.models import User, UserSession
    from apps.apikeys.models import ApiKey
    from apps.apikeys.scopes import grants

    from .tickets import redeem_ticket

    data = redeem_ticket(ticket)
    if data is None:
        return AnonymousUser(), None, None
    user = User.objects.select_related("network").filter(pk=data["user_id"], is_active=True).first()
    if user is None:
        return AnonymousUser(), None, None
    if data.get("api_key_id"):
        key = ApiKey.objects.filter(pk=data["api_key_id"], user=user).first()
        if key is None or not key.is_active or not grants(key.scopes, "realtime:connect"):
            return AnonymousUser(), None, None
        return user, None, key
    session_key = data.get("session_key")
    if (
        session_key
        and not UserSession.objects.filter(
            session_key=session_key, user=user, revoked_at__isnull=True
        ).exists()
    ):
        return AnonymousUser(), None, None
    return user, session_key, None


@database_sync_to_async
def _refusal(user, session_key: str | None, session, *, is_api_key: bool) -> str | None:
    from django.contrib.sessions.backends.cached_db import SessionStore

    from apps.accounts.permissions import account_refusal, enrolment_refusal, session_refusal

    refusal = account_refusal(user)
    if refusal:
        return refusal
    if user.network.status != "active":
        return "network_suspended"
    if session is None and session_key:
        session = SessionStore(session_key)
    return session_refusal(user, session, is_api_key=is_api_key) or enrolment_refusal(
        user, is_api_key=is_api_key
    )


async def _admit(scope, user, session_key: str | None, session, *, is_api_key: bool = False) -> None:
    """Set the scope's principal, or leave it anonymous with the reason it was refused."""
    refusal = await _refusal(user, session_key, session, is_api_key=is_api_key)
    if refusal:
        scope["user"] = AnonymousUser()
        scope["auth_refusal"] = refusal
        return
    scope["user"] = user
    if session_key:
        scope["session_key"] = session_key


def _query_ticket(scope) -> str | None:
    from urllib.parse import parse_qs

    raw = scope.get("query_string") or b""
    values = parse_qs(raw.decode("latin-1")).get("ticket")
    return values[0] if values else None


#: the close code of a refused handshake (the consumer's ``CLOSE_UNAUTHENTICATED``)
CLOSE_UNAUTHENTICATED = 4401


async def _refuse_handshake(receive, send) -> None:
    """Answer the handshake with a close (HTTP 403) before any consumer exists.

    A refused socket then never reads the channel layer: no consumer lingers
    on a Redis read for a socket that is already gone.
    """
    message = await receive()
    if message.get("type") == "websocket.connect":
        await send({"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED})


class _SessionUserMiddleware(AuthMiddleware):
    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        self.populate_scope(scope)
        await self.resolve_scope(scope)
        if scope.get("type") == "websocket" and not getattr(scope.get("user"), "is_authenticated", False):
            return await _refuse_handshake(receive, send)
        return await self.inner(scope, receive, send)

    async def resolve_scope(self, scope) -> None:
        ticket = _query_ticket(scope)
        if ticket is not None:
            user, session_key, api_key = await _ticket_principal(ticket)
            scope["user"] = user
            if user.is_authenticated:
                await _admit(scope, user, session_key, None, is_api_key=api_key is not None)
                if api_key is not None and scope["user"].is_authenticated:
                    scope["api_key"] = api_key  # organization policies read it (apps.realtime.policy)
            return
        await super().resolve_scope(scope)
        user = scope["user"]._wrapped if hasattr(scope["user"], "_wrapped") else scope["user"]
        session = scope.get("session")
        session_key = getattr(session, "session_key", None)
        if user is not None and getattr(user, "is_authenticated", False):
            if not await _session_is_live(session_key, user):
                scope["user"] = AnonymousUser()
                return
            await _admit(scope, user, session_key, session)


def WebSocketAuthMiddleware(inner):  # noqa: N802 — mirrors channels' AuthMiddlewareStack
    return CookieMiddleware(SessionMiddleware(_SessionUserMiddleware(inner)))
