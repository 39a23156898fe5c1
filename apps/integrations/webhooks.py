"""``POST /webhooks/composio/``: connected-account events from the provider.

Signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with
``COMPOSIO_WEBHOOK_SECRET``; 300 s tolerance). Inserted first into
``InboundWebhook`` (a duplicate id answers 200 and does nothing), processed
in Celery: an account that expired or failed at the provider marks the
connection; a deleted one revokes it (its grants disabled).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import parsers
from apps.core.exceptions import NotAuthenticated, ValidationFailed
from apps.core.models import InboundWebhook

from .models import AgentIntegration, UserIntegration

TOLERANCE_SECONDS = 300


def sign(*, webhook_id: str, timestamp: str, body: bytes, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(headers: Any, body: bytes) -> str:
    secret = settings.COMPOSIO_WEBHOOK_SECRET
    webhook_id, timestamp = headers.get("webhook-id") or "", headers.get("webhook-timestamp") or ""
    signatures = (headers.get("webhook-signature") or "").split()
    if not secret or not webhook_id or not timestamp.isdigit() or not signatures:
        raise NotAuthenticated("Invalid webhook signature.", code="invalid_signature")
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise NotAuthenticated("The webhook timestamp is too old.", code="invalid_signature")
    expected = sign(webhook_id=webhook_id, timestamp=timestamp, body=body, secret=secret)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise NotAuthenticated("Invalid webhook signature.", code="invalid_signature")
    return webhook_id[:255]


def receive(*, headers: Any, body: bytes) -> tuple[InboundWebhook, bool]:
    webhook_id = verify(headers, body)
    try:
        payload = parsers.loads(body)
    except parsers.UnsafeJSON as exc:
        raise ValidationFailed(exc.message, code=exc.code) from None
    if not isinstance(payload, dict):
        raise ValidationFailed("The body must be a JSON object.", code="invalid_json")
    account_id = _account_id(payload)
    network_id = (
        UserIntegration.objects.filter(external_account_id=account_id)
        .values_list("network_id", flat=True)
        .first()
        if account_id
        else None
    )
    try:
        with transaction.atomic():
            webhook = InboundWebhook.objects.create(
                source=InboundWebhook.Source.COMPOSIO,
                external_id=webhook_id,
                network_id=network_id,
                headers={"webhook-id": webhook_id, "webhook-timestamp": headers.get("webhook-timestamp")},
                payload=payload,
                signature_valid=True,
            )
    except IntegrityError:
        return InboundWebhook.objects.get(
            source=InboundWebhook.Source.COMPOSIO, external_id=webhook_id
        ), False
    from .tasks import process_composio_event

    transaction.on_commit(lambda: process_composio_event.delay(str(webhook.pk)))
    return webhook, True


def _account_id(payload: dict[str, Any]) -> str | None:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    value = data.get("id") or data.get("connected_account_id") or payload.get("connected_account_id")
    return str(value)[:200] if value else None


_STATUS = {"EXPIRED": "expired", "FAILED": "failed", "INACTIVE": "expired", "ACTIVE": "active"}


@transaction.atomic
def process_event(*, webhook_id: Any) -> str:
    webhook = InboundWebhook.objects.select_for_update().filter(pk=webhook_id).first()
    if webhook is None or webhook.status != InboundWebhook.Status.RECEIVED:
        return "skipped"
    payload = webhook.payload
    account_id = _account_id(payload)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    kind = str(payload.get("type") or "")
    remote = str(data.get("status") or "").upper()
    rows = UserIntegration.objects.filter(external_account_id=account_id, provider="composio").exclude(
        status="revoked"
    )
    outcome, error = InboundWebhook.Status.PROCESSED, ""
    if not account_id or not rows.exists():
        outcome, error = InboundWebhook.Status.IGNORED, "unknown connected account"
    elif kind.endswith("deleted") or remote in ("DELETED", "REVOKED"):
        now = timezone.now()
        ids = list(rows.values_list("pk", flat=True))
        rows.update(status="revoked", updated_at=now, last_error="Revoked at the provider.")
        AgentIntegration.objects.filter(user_integration_id__in=ids).update(enabled=False, updated_at=now)
    elif remote in _STATUS:
        rows.update(
            status=_STATUS[remote],
            updated_at=timezone.now(),
            last_error="" if remote == "ACTIVE" else f"Provider: {remote}",
        )
    else:
        outcome, error = InboundWebhook.Status.IGNORED, f"event {kind or '?'} not handled"
    webhook.status, webhook.error, webhook.processed_at = outcome, error, timezone.now()
    webhook.attempts += 1
    webhook.save(update_fields=["status", "error", "processed_at", "attempts", "updated_at"])
    return outcome
