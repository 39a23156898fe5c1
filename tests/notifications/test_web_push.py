"""Web Push end to end against a local push service that decrypts with the subscription's keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.notifications import delivery, services
from apps.notifications.models import Notification, PushNotificationToken
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def _register(user, subscriber, **kwargs):
    row, _ = services.register_push_token(actor=user, platform="web", token=subscriber.subscription, **kwargs)
    return row


def _notify(user, key="k1", **kwargs):
    services.notify(
        recipient=user,
        kind=kwargs.pop("kind", "mention"),
        title=kwargs.pop("title", "Ada mentioned you"),
        body=kwargs.pop("body", "in #general: hello"),
        data=kwargs.pop("data", {"url": "/chat/c/1"}),
        dedupe_key=key,
        **kwargs,
    )


def test_push_reaches_the_push_service_encrypted_and_vapid_signed(
    network, push_service, vapid_keys, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    subscriber = push_service.subscribe()
    _register(user, subscriber)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)
    [received] = push_service.for_subscriber(subscriber)
    assert received.headers["content-encoding"] == "aes128gcm"
    assert b"Ada mentioned you" not in received.body  # encrypted on the wire
    assert received.payload["title"] == "Ada mentioned you"
    assert received.payload["body"] == "in #general: hello"
    assert received.payload["data"] == {"url": "/chat/c/1"}
    assert received.vapid_valid and received.vapid_key == vapid_keys[1]
    push_row = Notification.objects.get(channel="push")
    assert push_row.status == "sent" and push_row.attempts == 1 and push_row.sent_at is not None
    assert received.payload["notification_id"] == str(push_row.pk)


def test_gone_subscription_is_deleted_and_the_row_skipped(
    network, push_service, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    subscriber = push_service.subscribe()
    token = _register(user, subscriber)
    push_service.answer(subscriber, 410)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)
    assert not PushNotificationToken.objects.filter(pk=token.pk).exists()
    row = Notification.objects.get(channel="push")
    assert (row.status, row.skip_reason) == ("skipped", "no_device")


def test_not_found_subscription_is_deleted_too(network, push_service, django_capture_on_commit_callbacks):
    user = UserFactory(network=network)
    subscriber = push_service.subscribe()
    token = _register(user, subscriber)
    push_service.answer(subscriber, 404)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)
    assert not PushNotificationToken.objects.filter(pk=token.pk).exists()


def test_server_errors_retry_after_30s_2min_10min_then_fail(
    network, push_service, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    subscriber = push_service.subscribe()
    token = _register(user, subscriber)
    push_service.answer(subscriber, 500, 503, 502, 500)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)  # attempt 1 (the eager re-queue is a no-op: not due yet)
    row = Notification.objects.get(channel="push")
    start = timezone.now()
    delays = []
    for _ in range(3):
        row.refresh_from_db()
        assert row.status == "failed"
        delays.append(round((row.next_attempt_at - start).total_seconds() / 10) * 10)
        start = row.next_attempt_at
        outcome = delivery.deliver_notification(notification_id=row.pk, now=row.next_attempt_at)
    assert delays == [30, 120, 600]
    assert outcome.status == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 4 and row.next_attempt_at is None
    assert len(push_service.for_subscriber(subscriber)) == 4
    assert PushNotificationToken.objects.get(pk=token.pk).failure_count == 4
    # a fifth run does nothing
    assert (
        delivery.deliver_notification(notification_id=row.pk, now=start + timedelta(hours=1)).status
        == "not_due"
    )


def test_retry_after_a_transient_failure_delivers_once_per_device(
    network, push_service, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    phone, laptop = push_service.subscribe("phone"), push_service.subscribe("laptop")
    _register(user, phone)
    _register(user, laptop)
    push_service.answer(laptop, 503)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)
    row = Notification.objects.get(channel="push")
    assert row.status == "failed" and len(row.delivered_token_ids) == 1
    outcome = delivery.deliver_notification(notification_id=row.pk, now=row.next_attempt_at)
    assert outcome.status == "sent"
    assert len(push_service.for_subscriber(phone)) == 1  # not pushed again by the retry
    assert len(push_service.for_subscriber(laptop)) == 2


def test_a_delivered_row_is_never_sent_twice(network, push_service, django_capture_on_commit_callbacks):
    user = UserFactory(network=network)
    subscriber = push_service.subscribe()
    _register(user, subscriber)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)
        _notify(user)  # same dedupe key: one row
    row = Notification.objects.get(channel="push")
    assert delivery.deliver_notification(notification_id=row.pk).status == "not_due"
    assert len(push_service.for_subscriber(subscriber)) == 1


def test_quiet_hours_defer_push_to_their_end(network, push_service, django_capture_on_commit_callbacks):
    from apps.preferences.services.account_settings import update_settings

    user = UserFactory(network=network)
    now = timezone.now()
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    update_settings(actor=user, quiet_start=start, quiet_end=end)
    subscriber = push_service.subscribe()
    _register(user, subscriber)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)
    row = Notification.objects.get(channel="push")
    assert row.status == "pending" and row.next_attempt_at > now + timedelta(hours=1)
    assert push_service.for_subscriber(subscriber) == []
    assert row.pk not in delivery.due_for_retry(now=now)
    assert row.pk in delivery.due_for_retry(now=row.next_attempt_at + timedelta(seconds=1))
    update_settings(actor=user, quiet_start=None, quiet_end=None)
    assert delivery.deliver_notification(notification_id=row.pk, now=row.next_attempt_at).status == "sent"
    assert len(push_service.for_subscriber(subscriber)) == 1


def test_push_muted_after_queueing_is_skipped(network, push_service, django_capture_on_commit_callbacks):
    from apps.preferences.services.account_settings import update_settings

    user = UserFactory(network=network)
    subscriber = push_service.subscribe()
    _register(user, subscriber)
    push_service.answer(subscriber, 503)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user)
    update_settings(actor=user, notification_choices={"mention": {"push": False}})
    row = Notification.objects.get(channel="push")
    assert delivery.deliver_notification(notification_id=row.pk, now=row.next_attempt_at).status == "skipped"
    row.refresh_from_db()
    assert row.skip_reason == "muted"


def test_test_push_endpoint_reaches_the_device(network, push_service, user_client, user):
    subscriber = push_service.subscribe()
    token = _register(user, subscriber)
    response = user_client.post(f"/api/v1/push-tokens/{token.pk}/test/")
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "sent"
    [received] = push_service.for_subscriber(subscriber)
    assert received.payload["title"] == "Test notification"
    assert not Notification.objects.exists()


def test_every_send_checks_the_address_it_connects_to(network, push_service, user, settings):
    """Registered while loopback was allowed; now it is not: core's public_client refuses the connection."""
    subscriber = push_service.subscribe()
    token = _register(user, subscriber)
    settings.PUSH_ALLOW_PRIVATE_ENDPOINTS = False
    result = services.send_test_push(actor=user, token=token)
    assert (result.outcome, result.error) == ("rejected", "endpoint does not resolve to a public address")
    assert push_service.received == []
