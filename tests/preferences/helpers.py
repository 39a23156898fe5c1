"""TOTP devices and mail links for the preferences tests (django-otp directly, no accounts flow)."""

from __future__ import annotations

import re
import time

from django.core import mail
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts.services import start_user_session


def confirmed_totp(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    counter = (int(time.time()) - device.t0) // device.step + device.drift
    return str(hotp(device.bin_key, counter, digits=device.digits)).zfill(device.digits)


def email_change_token(message=None) -> str:
    body = (message or mail.outbox[-1]).body
    match = re.search(r"/account/email-change/confirm/([A-Za-z0-9_-]+)/", body)
    assert match, body
    return match.group(1)


def logged_in_client(user, *, user_agent: str = "pytest") -> tuple[APIClient, str]:
    """A client with a real session and its UserSession row (as a login creates)."""
    from django.http import HttpRequest

    client = APIClient(HTTP_USER_AGENT=user_agent)
    client.force_login(user)
    key = client.session.session_key
    request = HttpRequest()
    request.session = client.session
    request.META["HTTP_USER_AGENT"] = user_agent
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    start_user_session(request=request, user=user)
    return client, key
