from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from apps.core.models import NetworkScopedModel


class ApiKey(NetworkScopedModel):
    """``col_<prefix>_<secret>``; only an HMAC of the secret is stored.

    ``user`` is who the key acts as (a person or one of their agents);
    ``created_by`` is the person who minted it. A rotated key points at its
    successor through ``replaced_by`` and stops counting as active.
    """

    #: lets permission classes tell ``request.auth`` apart from a session
    is_api_key = True

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=12, unique=True)  # global: looked up before the network
    secret_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=64))
    allowed_ips = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expiry_reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(condition=~models.Q(scopes=[]), name="apikey_scopes_non_empty"),
        ]
        indexes = [
            models.Index(fields=["network", "user", "revoked_at"], name="apikey_user_revoked"),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(
                    revoked_at__isnull=True, expiry_reminded_at__isnull=True, replaced_by__isnull=True
                ),
                name="apikey_expiry_reminder_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (col_{self.prefix}_…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class ApiKeyUsage(NetworkScopedModel):
    """Requests per key per hour, rolled up from Redis counters (kept 13 months)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage")
    hour_at = models.DateTimeField()
    request_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    throttled_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-hour_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "api_key", "hour_at"], name="apikeyusage_key_hour_uniq"
            ),
        ]
        indexes = [models.Index(fields=["hour_at"], name="apikeyusage_hour")]

    def __str__(self) -> str:
        return f"{self.api_key_id} @ {self.hour_at:%Y-%m-%d %H:00}"
