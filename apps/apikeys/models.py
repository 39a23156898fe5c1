from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from apps.core.models import NetworkScopedModel


class ApiKey(NetworkScopedModel):
    """``col_<prefix>_<secret>``; only an HMAC of the secret is stored."""

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

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(condition=~models.Q(scopes=[]), name="apikey_scopes_non_empty"),
        ]
        indexes = [models.Index(fields=["network", "user", "revoked_at"], name="apikey_user_revoked")]

    def __str__(self) -> str:
        return f"{self.name} (col_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ApiKeyUsage(NetworkScopedModel):
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

    def __str__(self) -> str:
        return f"{self.api_key_id} @ {self.hour_at:%Y-%m-%d %H:00}"
