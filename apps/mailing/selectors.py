"""Reads of the mailing domain shared by the API, admin, sender and core mail."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import EmailCampaign, EmailSend, EmailSuppression, SuppressionScope


def live_suppressions(network_id: Any) -> QuerySet[EmailSuppression]:
    now = timezone.now()
    return EmailSuppression.objects.filter(network_id=network_id).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def blocks_transactional_mail(*, email: str, network: Any) -> bool:
    """Transactional mail honours only ``all`` suppressions (hard bounces, complaints, manual)."""
    network_id = getattr(network, "pk", network)
    if not email or network_id is None:
        return False
    return (
        live_suppressions(network_id).filter(email=email.strip().lower(), scope=SuppressionScope.ALL).exists()
    )


def is_suppressed_for_campaigns(*, email: str, network_id: Any) -> bool:
    return live_suppressions(network_id).filter(email=email.strip().lower()).exists()


def campaign_sends(campaign: EmailCampaign) -> QuerySet[EmailSend]:
    return EmailSend.objects.filter(campaign=campaign)
