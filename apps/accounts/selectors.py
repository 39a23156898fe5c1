from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.cache import request_memo

from .models import User, UserSession

_SECURITY_TTL = 60

#: session key set once the session passed the second factor (value: the TOTP device id)
MFA_SESSION_KEY = "colony_mfa_device"


def _security_key(user_id) -> str:
    return f"user:{user_id}:security"


#: the cache key of a user's security state (``apps.accounts.principals`` prefetches it)
security_cache_key = _security_key


def remember_security_state(user_id, state: dict) -> None:
    """Keep a prefetched ``state`` for the rest of this request (read once per request)."""
    memo = request_memo()
    if memo is not None and isinstance(state, dict):
        memo[("security_state", str(user_id))] = state


def security_state(user: User) -> dict:
    """Whether 2FA is required of the user and whether they have it (cached 60 s).

    ``totp_device_id`` is the confirmed TOTP device (or None); a session is
    2FA-verified when its ``MFA_SESSION_KEY`` names that device.
    ``org_policies`` are the security policies that restrict anything of the
    organizations the user is an active member of (read by
    ``apps.organizations.policy`` on every org-reached request; dropped with
    this state on membership and policy changes).
    """
    memo = request_memo()
    memo_key = ("security_state", str(user.pk))
    cached = memo.get(memo_key) if memo is not None else None
    if cached is None:
        cached = cache.get(_security_key(user.pk))
    if cached is not None and "org_policies" in cached:
        if memo is not None:
            memo[memo_key] = cached
        return cached
    from apps.organizations.policy import member_policies

    org_policies = member_policies(user)
    requires = bool(user.network.setting("require_2fa")) or any(
        p["require_2fa"] and not p["archived"] for p in org_policies
    )
    device_id = (
        TOTPDevice.objects.filter(user=user, confirmed=True)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    state = {
        "requires_2fa": requires,
        "has_2fa": device_id is not None,
        "totp_device_id": device_id,
        "org_policies": org_policies,
    }
    cache.set(_security_key(user.pk), state, _SECURITY_TTL)
    if memo is not None:
        memo[memo_key] = state
    return state


def forget_security_state(user_id) -> None:
    memo = request_memo()
    if memo is not None:
        memo.pop(("security_state", str(user_id)), None)
    cache.delete(_security_key(user_id))


def has_confirmed_totp(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def session_passed_mfa(user: User, session: SessionBase | None) -> bool:
    """True when the user has no 2FA, or this session passed it with the current device."""
    state = security_state(user)
    if not state["has_2fa"]:
        return True
    if session is None:
        return False
    return session.get(MFA_SESSION_KEY) == state["totp_device_id"]


def two_factor_status(user: User) -> dict[str, Any]:
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).exists()
    remaining = StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
    state = security_state(user)
    return {
        "enabled": confirmed is not None,
        "enabled_at": confirmed.created_at if confirmed else None,
        "last_used_at": confirmed.last_used_at if confirmed else None,
        "pending_enrolment": pending and confirmed is None,
        "backup_codes_remaining": remaining if confirmed else 0,
        "required": bool(state["requires_2fa"]),
    }


def last_authenticated_at(user: Any, session: SessionBase | None) -> float | None:
    """When the session last authenticated ``user`` (login, reauthentication or 2FA code).

    Reads allauth's per-session authentication records (epoch seconds), so
    both cookie and ``X-Session-Token`` sessions count; None when there are none.
    """
    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )

    if session is None or not getattr(user, "is_authenticated", False):
        return None
    if session.get(_AUTHENTICATION_METHODS_USER_SESSION_KEY) != str(user.pk):
        return None
    records = session.get(AUTHENTICATION_METHODS_SESSION_KEY)
    if not isinstance(records, list):
        return None
    stamps = [float(r["at"]) for r in records if isinstance(r, dict) and r.get("at")]
    return max(stamps) if stamps else None


def recently_authenticated(user: Any, session: SessionBase | None) -> bool:
    """The session holds an authentication ≤ ``MFA_REAUTH_SECONDS`` (10 min) old."""
    latest = last_authenticated_at(user, session)
    return latest is not None and time.time() - latest < settings.MFA_REAUTH_SECONDS


def active_user_sessions(user: User) -> QuerySet[UserSession]:
    """The user's live sessions, newest first (index usersession_user_live)."""
    return UserSession.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now())
