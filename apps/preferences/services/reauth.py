"""The second factor for sensitive account changes (the password: ``accounts.services.confirm_password``)."""

from __future__ import annotations

from typing import Any

from apps.accounts import twofactor
from apps.accounts.selectors import has_confirmed_totp
from apps.core.exceptions import ValidationFailed


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
