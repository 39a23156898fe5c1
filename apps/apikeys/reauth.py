"""Recent authentication for minting keys: the password in the request, or a login ≤ 10 min ago.

"A login" is any authentication allauth recorded in this session (password,
social, 2FA, reauthentication) — ``apps.accounts.selectors.recently_authenticated``.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.permissions import request_session
from apps.accounts.selectors import recently_authenticated
from apps.accounts.services import confirm_password
from apps.core.exceptions import NotAuthenticated


def require_recent_authentication(request: Any, *, password: str | None) -> None:
    if password:
        confirm_password(user=request.user, password=password)
        return
    if recently_authenticated(request.user, request_session(request)):
        return
    raise NotAuthenticated(
        "Confirm your password (field `password`) or sign in again to manage API keys.",
        code="reauthentication_required",
    )
