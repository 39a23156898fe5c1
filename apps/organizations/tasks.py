"""Celery jobs of the organizations domain (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(
    name="organizations.expire_invitations",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def expire_invitations() -> int:
    """Daily: delete invitations past their expiry (idempotent; concurrent runs skip locked rows)."""
    return services.expire_invitations()
