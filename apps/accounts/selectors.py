from __future__ import annotations

from django.core.cache import cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User

_SECURITY_TTL = 60


def _security_key(user_id) -> str:
    return f"user:{user_id}:security"


def security_state(user: User) -> dict:
    """Whether 2FA is required of the user and whether they have it (cached 60 s)."""
    cached = cache.get(_security_key(user.pk))
    if cached is not None:
        return cached
    from apps.organizations.models import OrganizationMember

    requires = bool(user.network.setting("require_2fa"))
    if not requires:
        requires = OrganizationMember.objects.filter(
            user=user,
            status="active",
            organization__security_policy__require_2fa=True,
            organization__archived_at__isnull=True,
        ).exists()
    state = {
        "requires_2fa": requires,
        "has_2fa": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
    }
    cache.set(_security_key(user.pk), state, _SECURITY_TTL)
    return state


def forget_security_state(user_id) -> None:
    cache.delete(_security_key(user_id))


def has_confirmed_totp(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()
