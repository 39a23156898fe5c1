"""Signed state reports from sandbox and deploy providers.

``receive_webhook`` verifies the signature, then inserts an ``InboundWebhook``
keyed by (source, the event's ``id``): a duplicate delivery finds the row and
changes nothing. Processing runs in Celery after commit
(``process_webhook``), once per row, through the same state machines as the
API.

Payloads (JSON)::

    sandbox: {"id": "evt_1", "sandbox_id": "<uuid>", "status": "running",
              "provider_ref"?, "access_url"?, "detail"?, "last_active_at"?}
    deploy:  {"id": "evt_2", "deployment_id": "<uuid>", "status": "live",
              "provider_ref"?, "commit_sha"?, "site_url"?, "logs_url"?, "error"?}

A ``status`` equal to the current one only refreshes the other fields (a
sandbox reporting ``running`` again is activity: ``last_active_at`` moves).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core import parsers
from apps.core.exceptions import NotAuthenticated, ValidationFailed
from apps.core.models import InboundWebhook

from .. import signing, states
from ..models import Deployment, DeploymentStatus, Sandbox, SandboxStatus
from . import infra

SOURCES: dict[str, tuple[type[Sandbox] | type[Deployment], str]] = {
    InboundWebhook.Source.SANDBOX: (Sandbox, "sandbox_id"),
    InboundWebhook.Source.DEPLOY: (Deployment, "deployment_id"),
}
_url = URLValidator(schemes=["http", "https"])
_SHA = re.compile(r"^[0-9a-f]{40}$")
_KEPT_HEADERS = ("Content-Type", "User-Agent", signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER)


def receive_webhook(*, source: str, headers: Any, body: bytes) -> tuple[InboundWebhook, bool]:
    """Verify, parse and record one delivery; returns (row, created). 401 on a bad signature."""
    try:
        signing.verify(
            timestamp=headers.get(signing.TIMESTAMP_HEADER),
            signature=headers.get(signing.SIGNATURE_HEADER),
            body=body,
        )
    except signing.BadSignature as exc:
        raise NotAuthenticated("Invalid or expired webhook signature.", code="invalid_signature") from exc
    try:
        payload = parsers.loads(body)  # the one safe reader: size and depth limits
    except parsers.UnsafeJSON as exc:
        raise ValidationFailed(exc.message, code=exc.code) from None
    if not isinstance(payload, dict):
        raise ValidationFailed("The body must be a JSON object.", code="invalid_json")
    external_id = payload.get("id")
    if not isinstance(external_id, str) or not external_id or len(external_id) > 255:
        raise ValidationFailed("Give the event id (a string of at most 255 characters).", field="id")
    model, id_field = SOURCES[source]
    resource_id = _uuid(payload.get(id_field))
    if resource_id is None:
        raise ValidationFailed(f"Give {id_field} (a UUID).", field=id_field)
    network_id = model._default_manager.filter(pk=resource_id).values_list("network_id", flat=True).first()
    try:
        with transaction.atomic():
            webhook = InboundWebhook.objects.create(
                source=source,
                external_id=external_id,
                network_id=network_id,
                headers={name: headers.get(name) for name in _KEPT_HEADERS if headers.get(name)},
                payload=payload,
                signature_valid=True,
            )
    except IntegrityError:
        return InboundWebhook.objects.get(source=source, external_id=external_id), False
    from .. import tasks

    transaction.on_commit(lambda: tasks.process_infra_webhook.delay(str(webhook.pk)))
    return webhook, True


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _clean_url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 500:
        return None
    try:
        _url(value)
    except ValidationError:
        return None
    return value


def _clean_text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _when(value: Any) -> datetime | None:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or timezone.is_naive(parsed):
        return None
    return min(parsed, timezone.now())


@transaction.atomic
def process_webhook(*, webhook_id: Any) -> str:
    """Apply one recorded delivery (idempotent: only a ``received`` row is processed)."""
    webhook = InboundWebhook.objects.select_for_update().filter(pk=webhook_id).first()
    if webhook is None or webhook.status != InboundWebhook.Status.RECEIVED:
        return "skipped"
    model, id_field = SOURCES[webhook.source]
    resource_id = _uuid(webhook.payload.get(id_field))
    resource = model._default_manager.filter(pk=resource_id).first() if resource_id else None
    if resource is None:
        outcome, error = InboundWebhook.Status.IGNORED, f"unknown {id_field}"
    elif model is Sandbox:
        outcome, error = _apply_sandbox(resource, webhook.payload)
    else:
        outcome, error = _apply_deployment(resource, webhook.payload)
    webhook.status = outcome
    webhook.error = error
    webhook.attempts += 1
    webhook.processed_at = timezone.now()
    webhook.save(update_fields=["status", "error", "attempts", "processed_at", "updated_at"])
    return outcome


def _apply_sandbox(sandbox: Sandbox, payload: dict[str, Any]) -> tuple[str, str]:
    target = payload.get("status")
    if target not in SandboxStatus.values or target == SandboxStatus.REQUESTED:
        return InboundWebhook.Status.IGNORED, f"unknown sandbox status {target!r}"
    fields: dict[str, Any] = {}
    for name, value in (
        ("provider_ref", _clean_text(payload.get("provider_ref"), 200)),
        ("access_url", _clean_url(payload.get("access_url"))),
        ("status_detail", _clean_text(payload.get("detail"), 2000)),
    ):
        if value is not None:
            fields[name] = value
    if target == SandboxStatus.RUNNING:
        fields["last_active_at"] = _when(payload.get("last_active_at")) or timezone.now()
    if sandbox.status == target:
        Sandbox.objects.filter(pk=sandbox.pk, status=target).update(**fields, updated_at=timezone.now())
        return InboundWebhook.Status.PROCESSED, ""
    if not states.transition(Sandbox, sandbox.pk, target, **fields):
        return InboundWebhook.Status.IGNORED, f"illegal transition {sandbox.status} → {target}"
    return InboundWebhook.Status.PROCESSED, ""


def _apply_deployment(deployment: Deployment, payload: dict[str, Any]) -> tuple[str, str]:
    target = payload.get("status")
    if target not in DeploymentStatus.values or target in (
        DeploymentStatus.QUEUED,
        DeploymentStatus.SUPERSEDED,
    ):
        return InboundWebhook.Status.IGNORED, f"unknown deployment status {target!r}"
    fields: dict[str, Any] = {}
    sha = payload.get("commit_sha")
    for name, value in (
        ("provider_ref", _clean_text(payload.get("provider_ref"), 200)),
        ("commit_sha", sha if isinstance(sha, str) and _SHA.match(sha) else None),
        ("site_url", _clean_url(payload.get("site_url"))),
        ("logs_url", _clean_url(payload.get("logs_url"))),
        ("status_detail", _clean_text(payload.get("detail"), 2000)),
    ):
        if value is not None:
            fields[name] = value
    if target in (DeploymentStatus.FAILED, DeploymentStatus.CANCELLED):
        fields["finished_at"] = timezone.now()
        fields["error"] = _clean_text(payload.get("error"), 10000)
    if target == DeploymentStatus.BUILDING:
        fields["started_at"] = timezone.now()
    if deployment.status == target:
        same = {k: v for k, v in fields.items() if k not in ("started_at", "finished_at", "error")}
        Deployment.objects.filter(pk=deployment.pk, status=target).update(**same, updated_at=timezone.now())
        return InboundWebhook.Status.PROCESSED, ""
    if target == DeploymentStatus.LIVE:
        moved = infra.go_live(deployment_id=deployment.pk, **fields)
    else:
        moved = states.transition(Deployment, deployment.pk, target, **fields)
    if not moved:
        return InboundWebhook.Status.IGNORED, f"illegal transition {deployment.status} → {target}"
    return InboundWebhook.Status.PROCESSED, ""
