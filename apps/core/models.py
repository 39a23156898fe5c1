from __future__ import annotations

import json
from typing import Any, ClassVar

from django.conf import settings
from django.db import connection, models

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

    #: ``insert_once``'s statement (tests/billing checks its columns against the model's fields)
    INSERT_ONCE_SQL: ClassVar[str] = (
        "INSERT INTO core_inboundwebhook (id, created_at, updated_at, network_id, source, external_id, "
        "headers, payload, signature_valid, status, attempts, error, processed_at) "
        "VALUES (%s, now(), now(), NULL, %s, %s, %s::jsonb, %s::jsonb, %s, 'received', 0, '', NULL) "
        "ON CONFLICT (source, external_id) DO NOTHING RETURNING id"
    )

    @classmethod
    def insert_once(
        cls,
        *,
        source: str,
        external_id: str,
        payload_json: str,
        headers: dict[str, str],
        signature_valid: bool = True,
    ) -> Any:
        """Record a verified delivery: one ``INSERT … ON CONFLICT DO NOTHING RETURNING id``.

        Returns the new row's id, or ``None`` when (source, external_id) is already stored — the
        insert is the check, so a concurrent duplicate is told apart by the constraint, with no
        exception, savepoint or second query. ``payload_json`` is the verified JSON text, stored as
        jsonb without re-encoding (PostgreSQL refusing it — a ``\\u0000`` — raises ``DataError``).
        """
        params = (
            uuid7(),
            source,
            external_id,
            json.dumps(headers),
            payload_json,
            signature_valid,
        )
        with connection.cursor() as cursor:
            cursor.execute(cls.INSERT_ONCE_SQL, params)
            row = cursor.fetchone()
        return row[0] if row else None


class UploadKind(models.TextChoices):
    IMAGE = "image"
    VIDEO = "video"
    FILE = "file"


class UploadStatus(models.TextChoices):
    PENDING = "pending"
    READY = "ready"
    REJECTED = "rejected"


class Upload(NetworkScopedModel):
    """A file a user sent, for any domain to attach (``apps.core.uploads``).

    pending → ready | rejected. The type is sniffed from the bytes, never taken
    from the client; images are measured and re-encoded without EXIF. A ready
    upload is attached once (``consumed_at``); pending, rejected and never
    attached uploads are purged by ``core.purge_stale_uploads``.
    """

    Kind = UploadKind
    Status = UploadStatus

    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(max_length=300, blank=True, default="")
    filename = models.CharField(max_length=200, blank=True, default="")
    mime = models.CharField(max_length=100, blank=True, default="")
    declared_mime = models.CharField(max_length=100, blank=True, default="")
    size_bytes = models.BigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    reject_reason = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["image", "video", "file"]), name="upload_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "ready", "rejected"]), name="upload_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(size_bytes__gte=0), name="upload_size_nonnegative"),
            models.CheckConstraint(
                condition=~models.Q(status="ready") | ~models.Q(file=""), name="upload_ready_has_file"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="upload_status_expires"),
            models.Index(fields=["network", "uploader", "-id"], name="upload_uploader_id"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.filename or self.pk} ({self.status})"

    @property
    def is_ready(self) -> bool:
        return self.status == UploadStatus.READY
