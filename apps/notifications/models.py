from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.fields import EncryptedTextField
from apps.core.models import NetworkScopedModel


class Channel(models.TextChoices):
    PUSH = "push"
    EMAIL = "email"
    IN_APP = "in_app"


class NotificationStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Notification(NetworkScopedModel):
    """One delivery of one notice on one channel; idempotent per (recipient, channel, dedupe_key).

    ``next_attempt_at`` is when the row is due (now, the end of quiet hours, a
    retry's backoff) and, while a worker holds it, the end of its lease.
    ``delivered_token_ids`` are the push devices already served, so a retry
    never pushes the same device twice.
    """

    Channel = Channel
    Status = NotificationStatus

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    inbox_item = models.ForeignKey(
        "inbox.InboxItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    skip_reason = models.CharField(max_length=40, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    dedupe_key = models.CharField(max_length=200)
    is_digest = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_token_ids = ArrayField(models.UUIDField(), default=list, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "recipient", "channel", "dedupe_key"], name="notification_dedupe_uniq"
            ),
            choices_check("channel", Channel, model="notification"),
            choices_check("status", NotificationStatus, model="notification"),
        ]
        indexes = [
            # retry_failed / due deliveries / digests: only the open rows are indexed
            models.Index(
                fields=["status", "created_at"],
                condition=Q(status__in=["pending", "failed"]),
                name="notification_open",
            ),
            models.Index(
                fields=["recipient", "is_digest"],
                condition=Q(status="pending", is_digest=True),
                name="notification_digest_due",
            ),
            # the user's list, newest first
            models.Index(fields=["network", "recipient", "-id"], name="notification_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.kind} → {self.recipient_id} ({self.status})"


class Platform(models.TextChoices):
    WEB = "web"
    IOS = "ios"
    ANDROID = "android"


class Provider(models.TextChoices):
    WEBPUSH = "webpush"
    FCM = "fcm"
    APNS = "apns"


class PushNotificationToken(NetworkScopedModel):
    """A device: a Web Push subscription (JSON) or an FCM/APNs device token, encrypted at rest.

    Unique by ``token_hash`` across networks: registering a known device again
    moves it to the current user (one row).
    """

    Platform = Platform
    Provider = Provider

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_tokens")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    provider = models.CharField(max_length=10, choices=Provider.choices)
    token = EncryptedTextField()
    token_hash = models.CharField(max_length=64, unique=True)
    #: what lists and the admin show instead of the token (push service host or a masked token)
    token_hint = models.CharField(max_length=200, blank=True, default="")
    device_label = models.CharField(max_length=200, blank=True, default="")
    app_version = models.CharField(max_length=50, null=True, blank=True)
    enabled = models.BooleanField(default=True)
    last_seen_at = models.DateTimeField()
    failure_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("platform", Platform, model="pushtoken"),
            choices_check("provider", Provider, model="pushtoken"),
        ]
        indexes = [
            models.Index(fields=["user"], condition=Q(enabled=True), name="pushtoken_user_enabled"),
            models.Index(fields=["last_seen_at"], name="pushtoken_last_seen"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.token_hint} ({self.user_id})"
