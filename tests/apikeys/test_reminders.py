"""The daily expiry reminder: one email per key expiring within 7 days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.apikeys import services, tasks
from apps.apikeys.models import ApiKey
from apps.core.models import AuditEvent

from .factories import issue_key, make_agent

pytestmark = pytest.mark.django_db


def _expiring(user, days: float, **kwargs):
    return issue_key(user, expires_at=timezone.now() + timedelta(days=days), **kwargs).api_key


def test_owner_is_emailed_once_per_key_expiring_within_7_days(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    soon = _expiring(user, 3)
    _expiring(user, 10)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expiry_reminders.delay().get() == 1
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [user.email]
    assert soon.prefix in mail.body and soon.name in mail.subject
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_expiry_reminders() == 0
    assert len(mailoutbox) == 1
    assert ApiKey.objects.get(pk=soon.pk).expiry_reminded_at is not None
    assert AuditEvent.objects.filter(action="apikey.expiry_reminded", target_id=soon.pk).count() == 1


def test_revoked_rotated_and_expired_keys_get_no_reminder(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    revoked = _expiring(user, 3)
    services.revoke_api_key(actor=user, api_key=revoked)
    rotated = _expiring(user, 3)
    services.rotate_api_key(actor=user, api_key=rotated)  # the new key lives 3 days too
    expired = _expiring(user, 3)
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_expiry_reminders()
    assert sent == 1  # only the rotation's successor
    assert len(mailoutbox) == 1
    rotated.refresh_from_db()
    assert ApiKey.objects.get(expiry_reminded_at__isnull=False).pk == rotated.replaced_by_id


def test_agent_key_reminder_goes_to_the_agent_owner(user, mailoutbox, django_capture_on_commit_callbacks):
    agent = make_agent(owner=user)
    _expiring(agent, 2, scopes=["agent-default"])
    with django_capture_on_commit_callbacks(execute=True):
        services.send_expiry_reminders()
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert f"@{agent.handle}" in mailoutbox[0].body


def test_suspended_network_is_skipped(user, network, mailoutbox, django_capture_on_commit_callbacks):
    _expiring(user, 2)
    network.status = "suspended"
    network.save(update_fields=["status"])
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_expiry_reminders() == 0
    assert mailoutbox == []
