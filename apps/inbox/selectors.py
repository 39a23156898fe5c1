"""Reads of the inbox (always one recipient's rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import InboxItem

FILTERS = ("all", "unread", "archived", "action")


def _not_snoozed(now: Any) -> Q:
    return Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)


def inbox_items(
    qs: QuerySet[InboxItem], *, user: Any, filter: str = "all", kind: str | None = None
) -> QuerySet[InboxItem]:
    """``all``: active and not snoozed; ``unread``: of those, unread; ``archived``; ``action``: open action items."""
    now = timezone.now()
    qs = qs.filter(recipient_id=user.pk)
    if filter == "archived":
        qs = qs.filter(archived_at__isnull=False)
    elif filter == "action":
        qs = qs.filter(
            requires_action=True, action_state=InboxItem.ActionState.PENDING, archived_at__isnull=True
        )
    elif filter == "unread":
        qs = qs.filter(_not_snoozed(now), read_at__isnull=True, archived_at__isnull=True)
    else:
        qs = qs.filter(_not_snoozed(now), archived_at__isnull=True)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.select_related("actor")


def _unread(now: Any) -> Q:
    return Q(read_at__isnull=True, archived_at__isnull=True) & _not_snoozed(now)


def unread_count(*, user_id: Any) -> int:
    """An index-only count over the partial unread index (snoozed_until is included in it)."""
    return InboxItem.objects.filter(_unread(timezone.now()), recipient_id=user_id).count()


def unread_counts(user_ids: Iterable[Any]) -> dict[Any, int]:
    ids = set(user_ids)
    if not ids:
        return {}
    rows = (
        InboxItem.objects.filter(_unread(timezone.now()), recipient_id__in=ids)
        .values("recipient_id")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({row["recipient_id"]: row["n"] for row in rows})
    return counts
