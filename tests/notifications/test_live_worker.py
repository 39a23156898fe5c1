"""A real Celery worker delivers Web Push to the local push service (which decrypts it)."""

from __future__ import annotations

import pytest

from apps.notifications import services
from apps.notifications.models import Notification, PushNotificationToken
from tests.accounts.factories import UserFactory
from tests.live import wait_for

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_push_env(monkeypatch, vapid_keys):
    """The worker process reads its settings from the environment: same keys, loopback allowed."""
    monkeypatch.setenv("VAPID_PRIVATE_KEY", vapid_keys[0])
    monkeypatch.setenv("VAPID_PUBLIC_KEY", vapid_keys[1])
    monkeypatch.setenv("VAPID_SUBJECT", "mailto:push-tests@colony.local")
    monkeypatch.setenv("PUSH_ALLOW_PRIVATE_ENDPOINTS", "True")


@pytest.fixture
def worker(worker_push_env, celery_worker_process):
    return celery_worker_process


def test_worker_pushes_and_retries_then_deletes_a_gone_device(network, push_service, worker, vapid_keys):
    user = UserFactory(network=network)
    phone = push_service.subscribe("phone")
    gone = push_service.subscribe("gone")
    services.register_push_token(actor=user, platform="web", token=phone.subscription)
    services.register_push_token(actor=user, platform="web", token=gone.subscription)
    push_service.answer(gone, 410)

    services.notify(
        recipient=user,
        kind="mention",
        title="Ada mentioned you",
        body="hello",
        data={"url": "/x"},
        dedupe_key="live-1",
    )  # autocommit: written now, queued on the real broker

    [received] = wait_for(
        lambda: push_service.for_subscriber(phone), timeout=30, message="the push to arrive"
    )
    assert received.payload["title"] == "Ada mentioned you"
    assert received.vapid_valid and received.vapid_key == vapid_keys[1]
    row = wait_for(
        lambda: Notification.objects.filter(channel="push", status="sent").first(),
        timeout=30,
        message="the worker to mark the row sent",
    )
    assert row.attempts == 1
    assert list(PushNotificationToken.objects.values_list("token_hint", flat=True)) == ["127.0.0.1"]
    assert len(push_service.for_subscriber(gone)) == 1
