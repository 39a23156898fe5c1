"""Shared helpers for the accounts tests: TOTP codes, mail links, 2FA setup."""

from __future__ import annotations

import re
import time

from django.core import mail
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import twofactor


def totp_code(device: TOTPDevice) -> str:
    """A code the device accepts now: never reused (django-otp refuses t ≤ last_t).

    Uses the current time step, or the next one (inside the tolerance) when
    the current one was already used; when both were used, the test moves
    ``last_t`` back — standing in for waiting 30 seconds.
    """
    device.refresh_from_db()
    base = (int(time.time()) - device.t0) // device.step + device.drift
    counter = max(base, device.last_t + 1)
    if counter > base + device.tolerance:
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=base - 1)
        counter = base
    return str(hotp(device.bin_key, counter, digits=device.digits)).zfill(device.digits)


def wrong_code(device: TOTPDevice) -> str:
    good = {totp_code(device)}
    for candidate in ("000000", "111111", "222222"):
        if candidate not in good:
            return candidate
    raise AssertionError("unreachable")


def enable_totp(user) -> tuple[TOTPDevice, list[str]]:
    """Enrol and confirm TOTP for ``user`` through the services; return (device, backup codes)."""
    enrolment = twofactor.begin_totp_enrolment(user=user)
    codes = twofactor.confirm_totp(user=user, code=totp_code(enrolment.device))
    enrolment.device.refresh_from_db()
    return enrolment.device, codes


def last_mail_key(kind: str = "confirm-email") -> str:
    """The key in the newest mail's link (``/accounts/confirm-email/<key>/`` or reset links)."""
    body = mail.outbox[-1].body
    if kind == "confirm-email":
        match = re.search(r"/accounts/confirm-email/([^/\s]+)/", body)
    else:
        match = re.search(r"/accounts/password/reset/key/([^/\s]+)/", body)
    assert match, body
    return match.group(1)
