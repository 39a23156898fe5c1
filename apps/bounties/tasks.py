"""Bounty jobs (thin wrappers over services)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

logger = logging.getLogger(__name__)
_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": True, "max_retries": 3}


@shared_task(name="bounties.refund_expired_escrows", ignore_result=True, **_RETRY)
def refund_expired_escrows() -> int:
    from .services import refund_expired_escrows as refund

    return refund()


@shared_task(name="bounties.process_payouts", ignore_result=True, **_RETRY)
def process_payouts() -> int:
    from .services import process_payouts as process

    return process()


@shared_task(name="bounties.reconcile_ledger", ignore_result=True, **_RETRY)
def reconcile_ledger() -> dict:
    """Nightly: recompute cached balances from the ledger; drift alerts staff, never auto-fixes."""
    from apps.accounts.models import User
    from apps.inbox.services import deliver_inbox_item

    from .ledger import reconcile

    report = reconcile()
    if not report["ok"]:
        logger.error("ledger drift: %s", report)
        for staff in User.objects.filter(is_staff=True, is_active=True)[:50]:
            deliver_inbox_item(
                recipient=staff, kind="system", target_type="bounties.ledger", target_id=staff.pk,
                title="Ledger drift found", body=f"{len(report['drift'])} accounts drift; "
                f"unbalanced assets: {sorted(report['unbalanced_assets'])}.", data={"drift": report["drift"][:20]},
            )  # fmt: skip
    return {"ok": report["ok"], "drift": len(report["drift"])}
