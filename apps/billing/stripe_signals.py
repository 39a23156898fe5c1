"""Seat sync: a membership change counts the organization's members onto its billing account.

Fan-out only (the seat LIMIT is a rule, checked by the organizations services
through ``stripe_accounts.ensure_seat_available``); the count runs in Celery
after commit.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction


def _enqueue_seat_sync(sender: Any, instance: Any, **kwargs: Any) -> None:
    organization_id = getattr(instance, "organization_id", None)
    if organization_id is None:
        return
    from .stripe_tasks import sync_seats

    transaction.on_commit(lambda: sync_seats.delay(str(organization_id)))


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    from apps.organizations.models import OrganizationMember

    post_save.connect(_enqueue_seat_sync, sender=OrganizationMember, dispatch_uid="billing.seat_sync.save")
    post_delete.connect(
        _enqueue_seat_sync, sender=OrganizationMember, dispatch_uid="billing.seat_sync.delete"
    )
