"""Re-authentication for sensitive account changes: the password, and the TOTP code when enrolled."""

from __future__ import annotations

from typing import Any

from apps.accounts import twofactor
from apps.accounts.selectors import has_confirmed_totp
from apps.core import ratelimit
from apps.core.exceptions import RateLimited, ValidationFailed

#: wrong passwords per user before 429 (a stolen session must not brute-force the password)
PASSWORD_FAILURE_RATE = "5/15m"


def _bucket(user: Any) -> str:
    return f"reauth-fail:{user.pk}"


def check_password(*, user: Any, password: str) -> None:
    rate = ratelimit.Rate.parse(PASSWORD_FAILURE_RATE)
    if ratelimit.peek(_bucket(user), rate) >= rate.limit:
        raise RateLimited("Too many wrong passwords; wait before trying again.", retry_after=rate.window)
    if not user.has_usable_password():  # signed up with a social account only
        raise ValidationFailed(
            "Set a password for your account first; it is needed to confirm this change.",
            field="password",
            code="password_not_set",
        )
    if not password or not user.check_password(password):
        ratelimit.hit(_bucket(user), rate)
        raise ValidationFailed("The password is not correct.", field="password", code="invalid_password")


def check_second_factor(*, user: Any, code: str | None) -> None:
    """Required only when the user has a confirmed TOTP device; backup codes work too."""
    if not has_confirmed_totp(user):
        return
    if not code:
        raise ValidationFailed(
            "Enter a code from your authenticator app.", field="code", code="mfa_code_required"
        )
    try:
        twofactor.verify_code(user=user, code=code)
    except twofactor.TwoFactorError as exc:
        raise ValidationFailed(exc.message, field="code", code="invalid_code") from exc
