from __future__ import annotations

import secrets

import factory
from django.utils import timezone

from apps.notifications import push
from apps.notifications.models import Notification, PushNotificationToken
from tests.accounts.factories import UserFactory


class PushTokenFactory(factory.django.DjangoModelFactory):
    """An FCM device by default (no network call: FCM is not configured in tests)."""

    class Meta:
        model = PushNotificationToken

    user = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("user.network")
    platform = "android"
    provider = "fcm"
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(48))
    token_hash = factory.LazyAttribute(lambda o: push.token_identity(o.provider, o.token)[0])
    token_hint = factory.LazyAttribute(lambda o: push.token_identity(o.provider, o.token)[1])
    last_seen_at = factory.LazyFunction(timezone.now)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("recipient.network")
    kind = "mention"
    channel = "in_app"
    title = factory.Sequence(lambda n: f"Notice {n}")
    status = "sent"
    sent_at = factory.LazyFunction(timezone.now)
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")
