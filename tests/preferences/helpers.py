"""Shared by the preferences tests: TOTP devices (django-otp directly), mail links, logged-in
clients, and a fully furnished account to purge."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.sessions.models import Session
from django.core import mail
from django.utils import timezone
from django_otp.oath import hotp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts.models import User, UserSession
from apps.accounts.services import start_user_session
from apps.apikeys.models import ApiKey
from apps.core.models import AuditEvent
from apps.preferences.models import UserPreferences, UserSettings
from tests.accounts.factories import UserFactory
from tests.preferences.factories import DeletionRequestFactory, make_agent


def confirmed_totp(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    counter = (int(time.time()) - device.t0) // device.step + device.drift
    return str(hotp(device.bin_key, counter, digits=device.digits)).zfill(device.digits)


def email_change_token(message=None) -> str:
    body = (message or mail.outbox[-1]).body
    match = re.search(r"/accounts/email-change/confirm/([A-Za-z0-9_-]+)/", body)
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


def account_with_everything(network):
    """A pending-deletion user past the grace period, with every kind of row the purge removes."""
    user = UserFactory(network=network, bio="hello", display_name="Ada")
    client, _ = logged_in_client(user)
    ApiKey.objects.create(
        network=network,
        user=user,
        name="ci",
        prefix=f"p{user.pk.hex[:10]}",
        secret_hash="0" * 64,
        scopes=["full"],
    )
    confirmed_totp(user)
    static = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    StaticToken.objects.create(device=static, token="abcd1234")
    social = SocialAccount.objects.create(user=user, provider="github", uid=f"gh-{user.pk.hex}")
    SocialToken.objects.create(account=social, token="gho_secret")
    UserSettings.objects.create(network=network, user=user, timezone="Europe/Paris")
    UserPreferences.objects.create(network=network, user=user, data={"theme": "dark"})
    agent = make_agent(owner=user)
    deletion = DeletionRequestFactory(user=user, scheduled_at=timezone.now() - timedelta(minutes=1))
    User.objects.filter(pk=user.pk).update(state="pending_deletion")
    return user, agent, deletion, client


def assert_purged(user, agent, deletion):
    deletion.refresh_from_db()
    assert deletion.status == "completed"
    assert deletion.completed_at is not None
    user.refresh_from_db()
    assert user.display_name == "Deleted user"
    assert user.handle == f"deleted_{user.pk.hex[-12:]}"
    assert user.email is None
    assert (user.is_active, user.state, user.bio) == (False, "deleted", "")
    assert not user.has_usable_password()
    assert not user.avatar
    assert not UserSession.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert not Session.objects.filter(
        session_key__in=UserSession.objects.filter(user=user).values("session_key")
    ).exists()
    assert list(ApiKey.objects.filter(user=user).values_list("revoke_reason", flat=True)) == [
        "account deleted"
    ]
    assert not ApiKey.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert not SocialAccount.objects.filter(user=user).exists()
    assert not SocialToken.objects.filter(account__user=user).exists()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert not UserSettings.objects.filter(user=user).exists()
    assert not UserPreferences.objects.filter(user=user).exists()
    agent.refresh_from_db()
    assert agent.agent_status == "disabled"
    assert AuditEvent.objects.filter(action="account.deletion.completed", target_id=deletion.pk).count() == 1
