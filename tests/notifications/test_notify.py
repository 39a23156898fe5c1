"""notify(): which channels get a row, when they are due, idempotency, digests and jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from apps.notifications import delivery, tasks
from apps.notifications.models import Notification
from apps.notifications.services import notify
from apps.preferences.services.account_settings import update_settings
from tests.accounts.factories import UserFactory

from .factories import NotificationFactory, PushTokenFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    def run(user, *, kind="mention", key="k", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            notify(recipient=user, kind=kind, title=kwargs.pop("title", "Hello"), dedupe_key=key, **kwargs)

    return run


def _channels(user):
    return {(n.channel, n.status, n.is_digest) for n in Notification.objects.filter(recipient=user)}


def test_a_mention_is_in_app_now_and_email_in_the_digest(user, send):
    send(user)
    assert _channels(user) == {("in_app", "sent", False), ("email", "pending", True)}
    assert mail.outbox == []


def test_push_rows_exist_only_for_users_with_a_device(user, send):
    PushTokenFactory(user=user)  # FCM: not configured here, so the push fails for good
    send(user)
    push = Notification.objects.get(recipient=user, channel="push")
    assert push.status == "failed" and "not configured" in push.error and push.next_attempt_at is None


def test_immediate_kinds_email_at_once(user, send):
    send(user, kind="security", title="New sign-in")
    email = Notification.objects.get(recipient=user, channel="email")
    assert email.status == "sent" and not email.is_digest
    assert mail.outbox[0].to == [user.email] and mail.outbox[0].subject == "New sign-in"


def test_the_same_dedupe_key_is_delivered_once(user, send):
    send(user, kind="payout")
    send(user, kind="payout")
    assert Notification.objects.filter(recipient=user).count() == 2  # in_app + email
    assert len(mail.outbox) == 1


def test_choices_mute_channels_and_skip_channels_skip_them(user, send):
    update_settings(actor=user, notification_choices={"mention": {"in_app": False}})
    send(user, key="a")
    assert _channels(user) == {("email", "pending", True)}
    send(user, key="b", skip_channels=("email",))
    assert Notification.objects.filter(recipient=user, dedupe_key="b").count() == 0


def test_digest_off_means_no_email_for_digest_kinds(user, send):
    update_settings(actor=user, email_digest="off")
    send(user)
    assert _channels(user) == {("in_app", "sent", False)}


def test_quiet_hours_send_immediate_email_to_the_digest_except_security(user, send):
    now = timezone.now()
    update_settings(
        actor=user,
        quiet_start=(now - timedelta(hours=1)).time(),
        quiet_end=(now + timedelta(hours=1)).time(),
    )
    send(user, kind="org_invite", key="i")
    send(user, kind="security", key="s")
    assert Notification.objects.get(dedupe_key="i", channel="email").is_digest is True
    assert Notification.objects.get(dedupe_key="s", channel="email").status == "sent"


def test_inactive_users_get_nothing(user, send):
    user.is_active = False
    user.save(update_fields=["is_active"])
    send(user)
    assert not Notification.objects.exists()


def test_notify_in_a_rolled_back_transaction_sends_nothing(user):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(recipient=user, kind="security", title="x", dedupe_key="rollback")
        raise RuntimeError
    assert not Notification.objects.exists()


def test_bad_arguments_raise(user):
    with pytest.raises(ValueError):
        notify(recipient=user, kind="Not A Kind", title="x", dedupe_key="k")
    with pytest.raises(ValueError):
        notify(recipient=user, kind="mention", title="x", dedupe_key="")
    with pytest.raises(TypeError):
        notify(recipient=user, kind="mention", title="x", dedupe_key="k", data=["not", "a", "dict"])


def test_a_fan_out_of_notices_is_one_insert(
    network, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    users = UserFactory.create_batch(300, network=network)
    with django_assert_max_num_queries(5), django_capture_on_commit_callbacks(execute=True):
        for u in users:
            notify(recipient=u, kind="mention", title="Hi", dedupe_key="fan")
    assert Notification.objects.filter(channel="in_app").count() == 300


# --- digests ----------------------------------------------------------------------------


def _digest_rows(user, n=3):
    for i in range(n):
        NotificationFactory(recipient=user, channel="email", status="pending", sent_at=None, is_digest=True,
                            title=f"Item {i}", data={"url": f"/x/{i}"})  # fmt: skip


def test_digests_go_out_at_the_users_local_8_oclock(network):
    tokyo = UserFactory(network=network)
    update_settings(actor=tokyo, timezone="Asia/Tokyo")
    utc = UserFactory(network=network)
    _digest_rows(tokyo)
    _digest_rows(utc, 2)
    at_8_tokyo = datetime(2026, 3, 2, 23, 5, tzinfo=UTC)
    assert delivery.send_digests(now=at_8_tokyo) == {"users": 1, "notifications": 3, "skipped": 0}
    [message] = mail.outbox
    assert message.to == [tokyo.email] and message.subject.startswith("3 new notifications")
    assert "Item 0" in message.body and "http://127.0.0.1:8000/x/0" in message.body
    assert delivery.send_digests(now=at_8_tokyo) == {
        "users": 0,
        "notifications": 0,
        "skipped": 0,
    }  # idempotent
    assert delivery.send_digests(now=datetime(2026, 3, 3, 8, 30, tzinfo=UTC))["users"] == 1  # UTC user
    assert not Notification.objects.filter(status="pending").exists()


def test_weekly_digests_wait_for_monday_and_off_skips(network):
    weekly = UserFactory(network=network)
    update_settings(actor=weekly, email_digest="weekly")
    off = UserFactory(network=network)
    _digest_rows(weekly)
    _digest_rows(off)
    update_settings(actor=off, email_digest="off")
    tuesday_8 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert delivery.send_digests(now=tuesday_8) == {"users": 0, "notifications": 0, "skipped": 3}
    assert delivery.send_digests(now=tuesday_8 + timedelta(days=6))["notifications"] == 3
    assert Notification.objects.filter(recipient=off, skip_reason="digest_off").count() == 3


def test_a_failed_digest_mail_gives_the_rows_back(user, settings):
    settings.EMAIL_BACKEND = "tests.notifications.test_notify.BrokenBackend"
    _digest_rows(user)
    assert delivery.send_digest(user_id=user.pk) == 0
    assert Notification.objects.filter(recipient=user, status="pending").count() == 3


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("smtp down")


# --- jobs -------------------------------------------------------------------------------


def test_retry_failed_requeues_what_is_due(user):
    now = timezone.now()
    due = NotificationFactory(recipient=user, channel="email", status="failed", sent_at=None, attempts=1,
                              next_attempt_at=now - timedelta(seconds=1), kind="payout")  # fmt: skip
    NotificationFactory(recipient=user, channel="email", status="failed", sent_at=None, attempts=1,
                        next_attempt_at=now + timedelta(minutes=5))  # fmt: skip
    NotificationFactory(recipient=user, channel="email", status="failed", sent_at=None, attempts=4,
                        next_attempt_at=None)  # fmt: skip
    assert delivery.due_for_retry(now=now) == [due.pk]
    assert tasks.retry_failed() == 1  # eager: delivered now
    due.refresh_from_db()
    assert due.status == "sent" and due.attempts == 2


def test_prune_drops_old_rows_and_stale_devices(user, settings):
    from apps.core.ids import uuid7_floor

    old_time = timezone.now() - timedelta(days=settings.NOTIFICATION_RETENTION_DAYS + 1)
    old = NotificationFactory(recipient=user, id=uuid7_floor(old_time))
    fresh = NotificationFactory(recipient=user)
    stale = PushTokenFactory(
        user=user, last_seen_at=timezone.now() - timedelta(days=settings.PUSH_TOKEN_STALE_DAYS + 1)
    )
    kept = PushTokenFactory(user=user)
    assert delivery.prune() == {"notifications": 1, "devices": 1}
    assert (
        not Notification.objects.filter(pk=old.pk).exists()
        and Notification.objects.filter(pk=fresh.pk).exists()
    )
    assert (
        not type(stale).objects.filter(pk=stale.pk).exists()
        and type(kept).objects.filter(pk=kept.pk).exists()
    )
