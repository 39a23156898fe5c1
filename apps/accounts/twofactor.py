"""TOTP enrolment and verification with django-otp (full flows: see services in this module)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core import ratelimit
from apps.core.exceptions import DomainError, RateLimited


class TwoFactorError(DomainError):
    default_code = "invalid_code"
    default_message = "That code is not valid."


def _attempts_bucket(user: Any) -> str:
    return f"mfa-fail:{user.pk}"


def verify_code(*, user: Any, code: str) -> Any:
    """Return the device that accepted ``code`` (TOTP or single-use backup code)."""
    rate = ratelimit.Rate.parse(settings.MFA_FAILED_CODE_RATE)
    if ratelimit.peek(_attempts_bucket(user), rate) >= rate.limit:
        raise RateLimited("Too many wrong codes; wait before trying again.", retry_after=rate.window)
    code = (code or "").strip().replace(" ", "").replace("-", "")
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code):
            return device
    for device in StaticDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code):
            return device
    ratelimit.hit(_attempts_bucket(user), rate)
    raise TwoFactorError()


def verify_login_code(*, request: Any, user: Any, code: str) -> Any:
    return verify_code(user=user, code=code)


def reset_two_factor(*, actor: Any, user: Any) -> None:
    """Staff action: remove every OTP device of the user (audited)."""
    from django.db import transaction

    from apps.core import audit

    from .selectors import forget_security_state

    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit.record(network=user.network_id, actor=actor, action="account.2fa.reset", target=user)
    forget_security_state(user.pk)
