"""Suppressions (who gets no campaign, or no mail but the essential) and one-click unsubscribe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.exceptions import PermissionDenied, ValidationFailed
from apps.core.tokens import hash_token

from ..models import (
    EmailCampaign,
    EmailSuppression,
    EmailUnsubscribeToken,
    SuppressionReason,
    SuppressionScope,
)


@transaction.atomic
def suppress(
    *,
    network_id: Any,
    email: str,
    scope: str,
    reason: str,
    source_send_id: Any = None,
    details: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
    created_by: Any = None,
) -> tuple[EmailSuppression, bool]:
    """Add (or harden) a suppression; returns (row, created). A permanent one is never made temporary."""
    if scope not in SuppressionScope.values:
        raise ValidationFailed("Unknown scope.", field="scope")
    if reason not in SuppressionReason.values:
        raise ValidationFailed("Unknown reason.", field="reason")
    email = email.strip().lower()
    existing = (
        EmailSuppression.objects.select_for_update()
        .filter(network_id=network_id, email=email, scope=scope)
        .first()
    )
    if existing is not None:
        expired = existing.expires_at is not None and existing.expires_at <= timezone.now()
        if expired or (
            existing.expires_at is not None and (expires_at is None or expires_at > existing.expires_at)
        ):
            existing.expires_at = expires_at
            existing.reason = reason
            existing.save(update_fields=["expires_at", "reason", "updated_at"])
        return existing, False
    try:
        with transaction.atomic():
            row = EmailSuppression.objects.create(
                network_id=network_id,
                email=email,
                scope=scope,
                reason=reason,
                source_send_id=source_send_id,
                details=details or {},
                expires_at=expires_at,
                created_by=created_by,
            )
    except IntegrityError:
        return EmailSuppression.objects.get(network_id=network_id, email=email, scope=scope), False
    return row, True


def add_manual_suppression(
    *, actor: Any, network: Any, email: str, scope: str = SuppressionScope.CAMPAIGNS
) -> EmailSuppression:
    row, _created = suppress(
        network_id=network.pk, email=email, scope=scope, reason=SuppressionReason.MANUAL, created_by=actor
    )
    return row


@transaction.atomic
def remove_suppression(*, actor: Any, suppression: EmailSuppression) -> None:
    """Network admins lift manual/unsubscribe/bounce rows; a complaint is lifted only by staff."""
    if suppression.reason == SuppressionReason.COMPLAINT and not getattr(actor, "is_staff", False):
        raise PermissionDenied("Only staff may lift a complaint suppression.", code="complaint_staff_only")
    EmailSuppression.objects.filter(pk=suppression.pk).delete()


def expire_suppressions(*, now: datetime | None = None) -> int:
    """Daily: temporary (soft-bounce) suppressions past their time are removed."""
    now = now or timezone.now()
    deleted, _ = EmailSuppression.objects.filter(expires_at__isnull=False, expires_at__lte=now).delete()
    return deleted


def opt_out_of_marketing(user_id: Any) -> None:
    from apps.accounts.models import User
    from apps.preferences.services import update_settings

    user = User.objects.filter(pk=user_id).first()
    if user is not None:
        update_settings(actor=user, marketing_emails=False)


@transaction.atomic
def unsubscribe(*, token: str) -> bool:
    """The one-click POST (RFC 8058): idempotent; an unknown or expired token changes nothing.

    Suppresses the address for campaigns (the token's scope) and turns the
    user's marketing opt-in off. Returns whether the token was known.
    """
    if not token or len(token) > 200:
        return False
    row = (
        EmailUnsubscribeToken.objects.select_for_update()
        .filter(token_hash=hash_token(token))
        .filter(Q(expires_at__gt=timezone.now()))
        .first()
    )
    if row is None:
        return False
    first_use = row.used_at is None
    if first_use:
        row.used_at = timezone.now()
        row.save(update_fields=["used_at", "updated_at"])
    suppress(
        network_id=row.network_id,
        email=row.email,
        scope=row.scope,
        reason=SuppressionReason.UNSUBSCRIBE,
        source_send_id=row.send_id,
        details={"campaign": str(row.campaign_id) if row.campaign_id else None},
    )
    if row.user_id:
        opt_out_of_marketing(row.user_id)
    if first_use and row.campaign_id:
        EmailCampaign.objects.filter(pk=row.campaign_id).update(
            unsubscribed_count=F("unsubscribed_count") + 1
        )
    return True


def token_row(*, token: str) -> EmailUnsubscribeToken | None:
    if not token or len(token) > 200:
        return None
    return (
        EmailUnsubscribeToken.objects.select_related("network")
        .filter(token_hash=hash_token(token), expires_at__gt=timezone.now())
        .first()
    )
