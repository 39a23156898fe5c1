"""Auth signals → UserSession rows and login history (fan-out only; rules live in services).

Every login, failed login, logout, password change/reset and lockout is
written through ``apps.preferences.loginhistory.record_login_event`` (the 2FA
stage records ``mfa_challenge``, ``twofactor.verify_code`` ``mfa_failed``).
"""

from __future__ import annotations

from typing import Any

import django_otp
from allauth.account.signals import password_changed, password_reset, password_set
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from .models import User, UserSession
from .selectors import MFA_SESSION_KEY
from .services import start_user_session


def _record(**kwargs: Any) -> None:
    from apps.preferences.loginhistory import record_login_event

    record_login_event(**kwargs)


def _user_by_email(email: str | None) -> User | None:
    if not email:
        return None
    return User.objects.filter(email=email.strip().lower()).select_related("network").first()


def _is_new_device(user: User, row: UserSession | None) -> bool:
    """A login from a device label + IP pair this user never signed in from (first login: no)."""
    if row is None:
        return False
    earlier = UserSession.objects.filter(user=user).exclude(pk=row.pk)
    if not earlier.exists():
        return False
    return not earlier.filter(device_label=row.device_label, ip=row.ip).exists()


@receiver(user_logged_in, dispatch_uid="accounts.start_user_session")
def _on_login(sender, request, user, **kwargs) -> None:
    if request is None:
        return
    from .stages import login_method

    row = start_user_session(request=request, user=user)
    request._colony_user_session = row
    device = getattr(request, "_colony_mfa_device", None)
    if device is not None and getattr(request, "session", None) is not None:
        from .selectors import security_state

        request.session[MFA_SESSION_KEY] = security_state(user)["totp_device_id"]
        django_otp.login(request, device)
        if row is not None:
            UserSession.objects.filter(pk=row.pk).update(otp_verified_at=timezone.now())
    method = login_method(request, user)
    provider = None
    if method == "social":
        from allauth.account.internal.flows.login import get_authentication_records

        provider = next(
            (
                r.get("provider")
                for r in reversed(get_authentication_records(request, user))
                if r.get("method") == "socialaccount"
            ),
            None,
        )
    _record(
        event="login",
        request=request,
        user=user,
        method=method,
        provider=provider,
        session=row,
        is_new_device=_is_new_device(user, row),
    )


@receiver(user_logged_out, dispatch_uid="accounts.end_user_session")
def _on_logout(sender, request, user, **kwargs) -> None:
    """Signing out (allauth browser or app, the admin) ends the row and closes that session's sockets."""
    from .services import close_sockets_on_commit

    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    row = None
    if key:
        row = UserSession.objects.filter(session_key=key).first()
        UserSession.objects.filter(session_key=key, revoked_at__isnull=True).update(revoked_at=timezone.now())
        close_sockets_on_commit([key])
    if user is not None and getattr(user, "pk", None):
        _record(event="logout", request=request, user=user, session=row)


@receiver(user_login_failed, dispatch_uid="accounts.login_failed")
def _on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """Wrong password or unknown email (the response is the same for both)."""
    email = credentials.get("email") or credentials.get("username")
    user = _user_by_email(email)
    if user is None:
        reason = "unknown_email"
    elif not user.is_active:
        reason = "inactive"
    else:
        reason = "wrong_password"
    from apps.core.tenancy import request_network

    network = user.network if user else request_network(request)
    if network is None:  # no network resolves: no row to attach the attempt to
        return
    _record(
        event="login_failed",
        request=request,
        user=user,
        network=network,
        attempted_email=email if _looks_like_email(email) else None,
        method="password",
        failure_reason=reason,
    )


def _looks_like_email(value: str | None) -> bool:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    if not value or len(value) > 254:
        return False
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def record_lockout(request: Any, *, email: str | None) -> None:
    """allauth refused to even try the password: too many recent failures."""
    user = _user_by_email(email)
    _record(
        event="locked_out",
        request=request,
        user=user,
        network=user.network if user else None,
        attempted_email=email if _looks_like_email(email) else None,
        method="password",
        failure_reason="too_many_login_attempts",
    )


def record_refused_login(request: Any, user: User, *, reason: str) -> None:
    """Right password, but the account may not sign in (suspended, inactive, unverified email)."""
    from .stages import login_method

    _record(
        event="login_failed",
        request=request,
        user=user,
        method=login_method(request, user),
        failure_reason=reason,
    )


@receiver(password_changed, dispatch_uid="accounts.password_changed")
@receiver(password_set, dispatch_uid="accounts.password_set")
def _on_password_changed(sender, request, user, **kwargs) -> None:
    """Recorded; every other session of the user is signed out (this one got a new key)."""
    from .services import follow_session_key, revoke_other_sessions, session_key_before_request

    _record(event="password_changed", request=request, user=user)
    current = getattr(getattr(request, "session", None), "session_key", None)
    follow_session_key(old_key=session_key_before_request(request), new_key=current)
    revoke_other_sessions(actor=user, current_session_key=current)


@receiver(password_reset, dispatch_uid="accounts.password_reset")
def _on_password_reset(sender, request, user, **kwargs) -> None:
    from .services import revoke_all_sessions

    _record(event="password_reset", request=request, user=user)
    revoke_all_sessions(user=user)
