"""Retention of LoginHistory (the writer is ``apps.preferences.loginhistory``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ..models import LoginHistory

PRUNE_BATCH = 5000


def prune_login_history(*, now: Any = None, batch_size: int = PRUNE_BATCH) -> int:
    """Delete rows older than ``LOGIN_HISTORY_RETENTION_DAYS`` in short batches (no long locks)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.LOGIN_HISTORY_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(
            LoginHistory.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return total
        deleted, _ = LoginHistory.objects.filter(pk__in=ids).delete()
        total += deleted
