"""SES events through SNS: ``POST /api/v1/webhooks/ses/``.

``receive_ses_message`` verifies the SNS signature (nothing is stored for a
forged or unsigned message: 401), then inserts an ``InboundWebhook`` unique
on (ses, SNS ``MessageId``): a redelivery answers 200 and does nothing.
``process_ses_event`` (Celery, once per row) confirms subscriptions (GET of
an allowlisted ``SubscribeURL``) and applies notifications:

* permanent bounce → ``all`` suppression at once; transient → a
  ``campaigns`` suppression for 7 days after ``MAILING_SOFT_BOUNCE_LIMIT``
  in 7 days; complaint → ``all`` + marketing opt-out;
* delivery / open / click → first-time timestamps;
* counters move only on a first-time transition (a repeated or late event
  never counts twice, a send's status never moves backwards), then the
  campaign's error ratio is checked (auto-pause + inbox to the creator).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core import parsers
from apps.core.exceptions import NotAuthenticated, ValidationFailed
from apps.core.models import InboundWebhook

from .. import sns
from ..models import EmailCampaign, EmailSend, SendStatus, SuppressionReason, SuppressionScope
from .sending import check_error_ratio
from .suppressions import opt_out_of_marketing, suppress

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
_KEPT_HEADERS = ("x-amz-sns-message-type", "x-amz-sns-message-id", "x-amz-sns-topic-arn", "user-agent")
#: statuses a send may move to, from each (forward only)
_FORWARD = {
    SendStatus.DELIVERED: (SendStatus.SENT,),
    SendStatus.BOUNCED: (SendStatus.SENT, SendStatus.DELIVERED),
    SendStatus.COMPLAINED: (SendStatus.SENT, SendStatus.DELIVERED, SendStatus.BOUNCED),
}


def receive_ses_message(*, body: bytes, headers: Any) -> tuple[InboundWebhook, bool]:
    if len(body) > MAX_BODY:
        raise ValidationFailed("The message is too large.", code="too_large")
    try:
        message = parsers.loads(body)  # the one safe reader (apps/core/parsers.py): deep nesting → 400
    except parsers.UnsafeJSON as exc:
        raise ValidationFailed(exc.message, code=exc.code) from None
    try:
        sns.verify(message)
    except sns.InvalidSNSMessage as exc:
        logger.warning("SNS message refused: %s", exc)
        raise NotAuthenticated("The SNS message signature is not valid.", code="invalid_signature") from exc
    external_id = message.get("MessageId")
    if not isinstance(external_id, str) or not external_id or len(external_id) > 255:
        raise ValidationFailed("MessageId is missing.", field="MessageId")
    try:
        with transaction.atomic():
            webhook = InboundWebhook.objects.create(
                source=InboundWebhook.Source.SES,
                external_id=external_id,
                headers={k: headers.get(k) for k in _KEPT_HEADERS if headers.get(k)},
                payload=message,
                signature_valid=True,
            )
    except IntegrityError:
        return InboundWebhook.objects.get(source=InboundWebhook.Source.SES, external_id=external_id), False
    from .. import tasks

    transaction.on_commit(lambda: tasks.process_ses_event.delay(str(webhook.pk)))
    return webhook, True


def _finish(webhook: InboundWebhook, status: str, error: str = "", network_id: Any = None) -> str:
    webhook.status = status
    webhook.error = error[:2000]
    webhook.attempts += 1
    webhook.processed_at = timezone.now()
    fields = ["status", "error", "attempts", "processed_at", "updated_at"]
    if network_id is not None:
        webhook.network_id = network_id
        fields.append("network")
    webhook.save(update_fields=fields)
    return status


@transaction.atomic
def process_ses_event(*, webhook_id: Any) -> str:
    webhook = InboundWebhook.objects.select_for_update().filter(pk=webhook_id).first()
    if webhook is None or webhook.status != InboundWebhook.Status.RECEIVED:
        return "skipped"
    message = webhook.payload
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        url = message.get("SubscribeURL")
        if not sns.allowed_url(url):
            return _finish(webhook, InboundWebhook.Status.IGNORED, "SubscribeURL host not allowed")
        response = httpx.get(url, timeout=10, follow_redirects=False)  # raises → the task retries
        if response.status_code != 200:
            return _finish(
                webhook, InboundWebhook.Status.FAILED, f"SubscribeURL answered {response.status_code}"
            )
        return _finish(webhook, InboundWebhook.Status.PROCESSED)
    if kind != "Notification":
        return _finish(webhook, InboundWebhook.Status.IGNORED, f"{kind} ignored")
    try:
        event = parsers.loads(message.get("Message") or "")
    except ValueError:  # parsers.UnsafeJSON is a ValueError
        return _finish(webhook, InboundWebhook.Status.IGNORED, "Message is not JSON")
    if not isinstance(event, dict):
        return _finish(webhook, InboundWebhook.Status.IGNORED, "Message is not an object")
    event_type = event.get("eventType") or event.get("notificationType")
    mail = event.get("mail") if isinstance(event.get("mail"), dict) else {}
    message_id = mail.get("messageId")
    send = (
        EmailSend.objects.filter(ses_message_id=message_id).select_related("campaign").first()
        if isinstance(message_id, str)
        else None
    )
    if send is None:
        return _finish(webhook, InboundWebhook.Status.IGNORED, f"unknown SES message {message_id!r}")
    handler = _HANDLERS.get(event_type)
    if handler is None:
        return _finish(
            webhook, InboundWebhook.Status.IGNORED, f"event {event_type!r} ignored", send.network_id
        )
    handler(send, event)
    campaign_id = send.campaign_id
    transaction.on_commit(lambda: check_error_ratio(campaign_id=campaign_id))
    return _finish(webhook, InboundWebhook.Status.PROCESSED, network_id=send.network_id)


def _when(event: dict[str, Any], section: str) -> Any:
    block = event.get(section) if isinstance(event.get(section), dict) else {}
    parsed = parse_datetime(block.get("timestamp") or "") if isinstance(block.get("timestamp"), str) else None
    if parsed is None or timezone.is_naive(parsed):
        return timezone.now()
    return min(parsed, timezone.now())


def _first(send: EmailSend, field: str, when: Any, **extra: Any) -> bool:
    """Set ``field`` only if unset: the one gate for counting an event."""
    return (
        EmailSend.objects.filter(pk=send.pk, **{f"{field}__isnull": True}).update(
            **{field: when}, updated_at=timezone.now(), **extra
        )
        == 1
    )


def _advance(send: EmailSend, target: str) -> None:
    EmailSend.objects.filter(pk=send.pk, status__in=_FORWARD[target]).update(status=target)


def _bump(send: EmailSend, counter: str) -> None:
    EmailCampaign.objects.filter(pk=send.campaign_id).update(**{counter: F(counter) + 1})


def _recipients(event: dict[str, Any], section: str, key: str) -> list[str]:
    block = event.get(section) if isinstance(event.get(section), dict) else {}
    out = []
    for item in block.get(key) or []:
        address = item.get("emailAddress") if isinstance(item, dict) else None
        if isinstance(address, str) and "@" in address:
            out.append(address.strip().lower()[:254])
    return out


def _on_bounce(send: EmailSend, event: dict[str, Any]) -> None:
    bounce = event.get("bounce") if isinstance(event.get("bounce"), dict) else {}
    kind = {"Permanent": "permanent", "Transient": "transient"}.get(bounce.get("bounceType"), "undetermined")
    subtype = str(bounce.get("bounceSubType") or "")[:200] or None
    when = _when(event, "bounce")
    if _first(send, "bounced_at", when, bounce_type=kind, bounce_subtype=subtype):
        _bump(send, "bounced_count")
        _advance(send, SendStatus.BOUNCED)
    addresses = _recipients(event, "bounce", "bouncedRecipients") or [send.email]
    for address in addresses:
        if kind == "permanent":
            suppress(
                network_id=send.network_id,
                email=address,
                scope=SuppressionScope.ALL,
                reason=SuppressionReason.HARD_BOUNCE,
                source_send_id=send.pk,
                details={"subtype": subtype},
            )
        elif kind == "transient":
            since = timezone.now() - timedelta(days=settings.MAILING_SOFT_BOUNCE_DAYS)
            recent = EmailSend.objects.filter(
                network_id=send.network_id, email=address, bounce_type="transient", bounced_at__gte=since
            ).count()
            if recent >= settings.MAILING_SOFT_BOUNCE_LIMIT:
                suppress(
                    network_id=send.network_id,
                    email=address,
                    scope=SuppressionScope.CAMPAIGNS,
                    reason=SuppressionReason.SOFT_BOUNCE,
                    source_send_id=send.pk,
                    details={"transient_bounces": recent},
                    expires_at=timezone.now() + timedelta(days=settings.MAILING_SOFT_BOUNCE_DAYS),
                )


def _on_complaint(send: EmailSend, event: dict[str, Any]) -> None:
    if _first(send, "complained_at", _when(event, "complaint")):
        _bump(send, "complained_count")
        _advance(send, SendStatus.COMPLAINED)
    for address in _recipients(event, "complaint", "complainedRecipients") or [send.email]:
        suppress(
            network_id=send.network_id,
            email=address,
            scope=SuppressionScope.ALL,
            reason=SuppressionReason.COMPLAINT,
            source_send_id=send.pk,
        )
    if send.user_id:
        opt_out_of_marketing(send.user_id)


def _on_delivery(send: EmailSend, event: dict[str, Any]) -> None:
    if _first(send, "delivered_at", _when(event, "delivery")):
        _bump(send, "delivered_count")
        _advance(send, SendStatus.DELIVERED)


def _on_open(send: EmailSend, event: dict[str, Any]) -> None:
    if _first(send, "opened_at", _when(event, "open")):
        _bump(send, "opened_count")


def _on_click(send: EmailSend, event: dict[str, Any]) -> None:
    if _first(send, "clicked_at", _when(event, "click")):
        _bump(send, "clicked_count")


_HANDLERS = {
    "Bounce": _on_bounce,
    "Complaint": _on_complaint,
    "Delivery": _on_delivery,
    "Open": _on_open,
    "Click": _on_click,
}
