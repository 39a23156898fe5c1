"""Recent authentication for minting keys: the password in the request, or a login ≤ 10 min ago.

"A login" is any authentication allauth recorded in this session (password,
social, 2FA, reauthentication) within ``ACCOUNT_REAUTHENTICATION_TIMEOUT``.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from apps.core import ratelimit
from apps.core.exceptions import NotAuthenticated, RateLimited, ValidationFailed

# allauth.account.internal.flows.login keeps these in the session
_RECORDS_KEY = "account_authentication_methods"
_RECORDS_USER_KEY = "account_authentication_methods_user"
WRONG_PASSWORD_RATE = "5/5m"


def _session(request: Any) -> SessionBase | None:
    auth = getattr(request, "auth", None)
    if isinstance(auth, SessionBase):  # X-Session-Token clients
        return auth
    return getattr(getattr(request, "_request", request), "session", None)


def authenticated_recently(request: Any) -> bool:
    session = _session(request)
    user = request.user
    if session is None or not user.is_authenticated:
        return False
    if session.get(_RECORDS_USER_KEY) != str(user.pk):
        return False
    records = session.get(_RECORDS_KEY)
    if not isinstance(records, list):
        return False
    timeout = settings.ACCOUNT_REAUTHENTICATION_TIMEOUT
    now = time.time()
    return any(isinstance(r, dict) and now - float(r.get("at", 0)) < timeout for r in records)


def require_recent_authentication(request: Any, *, password: str | None) -> None:
    user = request.user
    if password:
        bucket = f"apikeys-reauth:{user.pk}"
        rate = ratelimit.Rate.parse(WRONG_PASSWORD_RATE)
        if ratelimit.peek(bucket, rate) >= rate.limit:
            raise RateLimited("Too many wrong passwords; wait before trying again.", retry_after=rate.window)
        if user.check_password(password):
            return
        ratelimit.hit(bucket, rate)
        raise ValidationFailed("Wrong password.", field="password", code="wrong_password")
    if authenticated_recently(request):
        return
    raise NotAuthenticated(
        "Confirm your password (field `password`) or sign in again to manage API keys.",
        code="reauthentication_required",
    )
