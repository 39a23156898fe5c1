"""Two-factor authentication with django-otp: TOTP enrolment, backup codes, verification.

* Enrolment creates an unconfirmed ``TOTPDevice``; a code from the app
  confirms it and creates ten single-use backup codes (a ``StaticDevice``),
  returned once.
* Wrong codes are counted per user in Redis (``MFA_FAILED_CODE_RATE``) and
  recorded as ``mfa_failed`` login history; over the limit → 429 with
  ``Retry-After``. django-otp's own per-device throttle is reported the same way.
* Every device change forgets the cached security state.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core import audit, ratelimit
from apps.core.exceptions import DomainError, InvalidState, RateLimited

from .selectors import MFA_SESSION_KEY, forget_security_state, security_state

BACKUP_CODE_COUNT = 10


class TwoFactorError(DomainError):
    """400 ``{"detail": "That code is not valid.", "code": "invalid_code"}``.

    No ``field``: the request field is itself called ``code``, which would
    collide with the error body's ``code`` key.
    """

    default_code = "invalid_code"
    default_message = "That code is not valid."


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    otpauth_uri: str
    secret: str
    qr_svg: str


def _attempts_bucket(user: Any) -> str:
    return f"mfa-fail:{user.pk}"


def _rate() -> ratelimit.Rate:
    return ratelimit.Rate.parse(settings.MFA_FAILED_CODE_RATE)


def normalize_code(code: str | None) -> str:
    return (code or "").strip().replace(" ", "").replace("-", "").lower()


def format_backup_code(token: str) -> str:
    return f"{token[:4]}-{token[4:]}" if len(token) == 8 else token


def _record_failure(request: Any, user: Any, reason: str) -> None:
    from apps.preferences.loginhistory import record_login_event

    record_login_event(event="mfa_failed", request=request, user=user, failure_reason=reason)


def _throttled_until(devices: list[Any]) -> Any:
    until = None
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if not allowed and data and data.get("locked_until"):
            until = max(until, data["locked_until"]) if until else data["locked_until"]
    return until


def verify_code(
    *,
    user: Any,
    code: str,
    request: Any = None,
    purpose: str = "login",
    devices: list[Any] | None = None,
) -> Any:
    """Return the device that accepted ``code`` (TOTP, or a single-use backup code).

    ``devices`` narrows the candidates (e.g. the unconfirmed device being
    enrolled); by default every confirmed device of the user is tried.
    """
    rate = _rate()
    bucket = _attempts_bucket(user)
    if ratelimit.peek(bucket, rate) >= rate.limit:
        _record_failure(request, user, f"rate_limited ({purpose})")
        raise RateLimited(
            "Too many wrong codes; wait before trying again.",
            retry_after=rate.retry_after(int(time.time())),
            code="too_many_attempts",
        )
    if devices is None:
        devices = [
            *TOTPDevice.objects.filter(user=user, confirmed=True),
            *StaticDevice.objects.filter(user=user, confirmed=True),
        ]
    token = normalize_code(code)
    # a TOTP-shaped code goes to TOTP devices only, anything else to backup codes only,
    # so a backup code never counts as a failure against the TOTP device
    is_totp_code = token.isdigit() and len(token) == 6
    candidates = [d for d in devices if isinstance(d, TOTPDevice) == is_totp_code]
    locked_until = _throttled_until(candidates)
    if locked_until is not None:
        wait = math.ceil((locked_until - timezone.now()).total_seconds())
        _record_failure(request, user, f"throttled ({purpose})")
        raise RateLimited(
            "Too many wrong codes; wait before trying again.",
            retry_after=max(1, wait),
            code="too_many_attempts",
        )
    if token:
        for device in candidates:
            if device.verify_token(token):
                return device
    ratelimit.hit(bucket, rate)
    _record_failure(request, user, f"invalid_code ({purpose})")
    raise TwoFactorError()


def verify_login_code(*, request: Any, user: Any, code: str) -> Any:
    """The login stage: a TOTP or backup code; remember it for the session being created."""
    from allauth.account.internal.flows.login import record_authentication

    device = verify_code(user=user, code=code, request=request, purpose="login")
    request._colony_mfa_device = device
    record_authentication(request, user, method="mfa", type=_device_type(device))
    return device


def mark_session_verified(*, request: Any, session: Any, user: Any, device: Any) -> None:
    """Record on ``session`` (cookie or X-Session-Token) that it passed the second factor."""
    from allauth.account.internal.flows.login import record_authentication

    from .models import UserSession

    totp_id = (
        device.pk
        if isinstance(device, TOTPDevice)
        else TOTPDevice.objects.filter(user=user, confirmed=True).values_list("id", flat=True).first()
    )
    if session is None:
        return
    session[MFA_SESSION_KEY] = totp_id
    if session.session_key:
        UserSession.objects.filter(session_key=session.session_key, user=user).update(
            otp_verified_at=timezone.now()
        )
    if getattr(request, "session", None) is session:
        record_authentication(request, user, method="mfa", type=_device_type(device), reauthenticated=True)
    else:
        _append_authentication_record(session, user, device)


def verify_session(*, request: Any, session: Any, user: Any, code: str) -> Any:
    """A session signed in before 2FA was enabled (elsewhere) passes the second factor."""
    if not security_state(user)["has_2fa"]:
        raise InvalidState("Two-factor authentication is not enabled.", code="mfa_not_enabled")
    device = verify_code(user=user, code=code, request=request, purpose="session")
    mark_session_verified(request=request, session=session, user=user, device=device)
    return device


def _append_authentication_record(session: Any, user: Any, device: Any) -> None:
    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )

    records = session.get(AUTHENTICATION_METHODS_SESSION_KEY)
    if session.get(_AUTHENTICATION_METHODS_USER_SESSION_KEY) != str(user.pk) or not isinstance(records, list):
        records = []
    records.append(
        {"method": "mfa", "at": time.time(), "type": _device_type(device), "reauthenticated": True}
    )
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
    session.save()


def _device_type(device: Any) -> str:
    return "totp" if isinstance(device, TOTPDevice) else "backup_code"


def qr_svg(uri: str) -> str:
    out = BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def _secret(device: TOTPDevice) -> str:
    from base64 import b32encode

    return b32encode(device.bin_key).decode()


def enrolment_for(device: TOTPDevice) -> Enrolment:
    uri = device.config_url
    return Enrolment(device=device, otpauth_uri=uri, secret=_secret(device), qr_svg=qr_svg(uri))


@transaction.atomic
def begin_totp_enrolment(*, user: Any) -> Enrolment:
    """A fresh unconfirmed TOTP device (replacing an earlier unfinished one)."""
    from .models import User

    User.objects.select_for_update().filter(pk=user.pk).first()
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise InvalidState("Two-factor authentication is already enabled.", code="mfa_already_enabled")
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return enrolment_for(device)


def pending_enrolment(*, user: Any) -> Enrolment | None:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    return enrolment_for(device) if device else None


def _new_backup_codes(user: Any) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    tokens: set[str] = set()
    while len(tokens) < BACKUP_CODE_COUNT:
        tokens.add(StaticToken.random_token())
    StaticToken.objects.bulk_create([StaticToken(device=device, token=t) for t in sorted(tokens)])
    return [format_backup_code(t) for t in sorted(tokens)]


def confirm_totp(*, user: Any, code: str, request: Any = None, session: Any = None) -> list[str]:
    """Confirm the pending device with a code from it; return the backup codes (shown once)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        raise InvalidState("Start the enrolment first.", code="no_pending_enrolment")
    verify_code(user=user, code=code, request=request, purpose="enrolment", devices=[device])
    with transaction.atomic():
        updated = TOTPDevice.objects.filter(pk=device.pk, confirmed=False).update(confirmed=True)
        if not updated or TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).exists():
            raise InvalidState("Two-factor authentication is already enabled.", code="mfa_already_enabled")
        codes = _new_backup_codes(user)
        event = audit.record(network=user.network_id, actor=user, action="account.2fa.enabled", target=user)
        _report_2fa(user, event, "Two-factor authentication was turned on")
        transaction.on_commit(lambda: forget_security_state(user.pk))
    forget_security_state(user.pk)
    device.confirmed = True
    mark_session_verified(request=request, session=session, user=user, device=device)
    return codes


def _report_2fa(user: Any, event: Any, title: str) -> None:
    from apps.inbox.services import report_security_event

    report_security_event(
        user=user,
        event=event.action,
        title=title,
        body="If this was not you, secure your account now.",
        target_type="auditevent",
        target_id=event.pk,
    )


def _require_enabled(user: Any) -> None:
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise InvalidState("Two-factor authentication is not enabled.", code="mfa_not_enabled")


def _remove_devices(*, actor: Any, user: Any, action: str) -> None:
    """Delete every OTP device of the user (TOTP and backup codes), audited as ``action``."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        event = audit.record(network=user.network_id, actor=actor, action=action, target=user)
        _report_2fa(user, event, "Two-factor authentication was turned off")
    forget_security_state(user.pk)


def disable_two_factor(*, user: Any, code: str, request: Any = None) -> None:
    """Remove TOTP and backup codes; a current TOTP or backup code is the proof."""
    _require_enabled(user)
    verify_code(user=user, code=code, request=request, purpose="disable")
    _remove_devices(actor=user, user=user, action="account.2fa.disabled")


def regenerate_backup_codes(*, user: Any, code: str, request: Any = None) -> list[str]:
    """Replace every backup code (a current TOTP or backup code is the proof); shown once."""
    _require_enabled(user)
    verify_code(user=user, code=code, request=request, purpose="backup_codes")
    with transaction.atomic():
        codes = _new_backup_codes(user)
        event = audit.record(
            network=user.network_id, actor=user, action="account.2fa.backup_codes_regenerated", target=user
        )
        _report_2fa(user, event, "New two-factor backup codes were generated")
    forget_security_state(user.pk)
    return codes


def reset_two_factor(*, actor: Any, user: Any) -> None:
    """Staff action: remove every OTP device of the user (audited)."""
    _remove_devices(actor=actor, user=user, action="account.2fa.reset")
