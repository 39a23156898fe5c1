"""Single-use WebSocket tickets (60 s) for clients that cannot send the session cookie.

``POST /api/v1/realtime/tickets/`` (a session, or an API key with
``realtime:connect``) returns a random ticket; ``/ws/?ticket=…`` redeems it
once (Redis ``GETDEL`` on its SHA-256, so a reused or expired ticket is
refused and the ticket itself is never stored).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from apps.core.redis import get_redis, key

TICKET_TTL_SECONDS = 60


def _key(ticket: str) -> str:
    return key("ws-ticket", hashlib.sha256(ticket.encode()).hexdigest())


def issue_ticket(*, user: Any, api_key: Any = None, session_key: str | None = None) -> str:
    ticket = secrets.token_urlsafe(32)
    data = {
        "user_id": str(user.pk),
        "api_key_id": str(api_key.pk) if api_key is not None else None,
        "session_key": session_key,
    }
    get_redis().set(_key(ticket), json.dumps(data), ex=TICKET_TTL_SECONDS)
    return ticket


def redeem_ticket(ticket: str | None) -> dict[str, Any] | None:
    """The ticket's principal, once; None when unknown, expired or already used."""
    if not ticket or len(ticket) > 128:
        return None
    raw = get_redis().getdel(_key(ticket))
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("user_id") else None
