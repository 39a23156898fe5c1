from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from .ids import uuid7


class BaseModel(models.Model):
    """Time-ordered UUIDv7 primary key and timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ("-id",)


class NetworkScopedModel(BaseModel):
    """A tenant row: reachable only from its own network."""

    #: lookup path to the Organization that owns the row ("owner_organization",
    #: "project__owner_organization"; "pk" on Organization); its security policy then
    #: applies wherever the row is reached (apps/organizations/policy.py)
    organization_field: ClassVar[str | None] = None

    network = models.ForeignKey(
        "networks.Network",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=True,
        editable=False,
    )

    class Meta:
        abstract = True
        ordering = ("-id",)


class AuditEvent(NetworkScopedModel):
    """Append-only audit log; ``mod.*`` actions form the moderation log."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "apikeys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audit_events",
    )
    organization_field = "organization"

    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=40)
    target_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["network", "target_type", "target_id"]),
            models.Index(fields=["network", "created_at"]),
            models.Index(fields=["organization", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class InboundWebhook(BaseModel):
    """Every inbound webhook delivery, inserted first and processed once.

    Global (looked up before the network is known), with an optional network.
    """

    class Source(models.TextChoices):
        STRIPE = "stripe"
        SES = "ses"
        COMPOSIO = "composio"
        SANDBOX = "sandbox"
        DEPLOY = "deploy"

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"

    network = models.ForeignKey(
        "networks.Network", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    external_id = models.CharField(max_length=255)
    headers = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    signature_valid = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="inboundwebhook_source_ext_uniq"),
            models.CheckConstraint(
                condition=models.Q(status__in=["received", "processed", "ignored", "failed"]),
                name="inboundwebhook_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"
