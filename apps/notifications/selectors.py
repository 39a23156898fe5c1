"""Reads of the notifications domain."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from apps.accounts.models import User

from .models import Notification, PushNotificationToken
from .rules import Recipient

_RECIPIENT_COLUMNS = (
    "id",
    "network_id",
    "email",
    "is_active",
    "settings__notification_choices",
    "settings__timezone",
    "settings__quiet_start",
    "settings__quiet_end",
    "settings__email_digest",
)


def recipient_from_row(row: dict[str, Any]) -> Recipient:
    return Recipient(
        id=row["id"],
        network_id=row["network_id"],
        email=row.get("email"),
        is_active=bool(row.get("is_active", True)),
        choices=row.get("settings__notification_choices") or {},
        timezone=row.get("settings__timezone") or "UTC",
        quiet_start=row.get("settings__quiet_start"),
        quiet_end=row.get("settings__quiet_end"),
        email_digest=row.get("settings__email_digest") or "daily",
    )


def recipients(user_ids: Iterable[Any]) -> dict[Any, Recipient]:
    """Users with their notification settings (defaults when they never saved any): one query."""
    ids = {getattr(uid, "pk", uid) for uid in user_ids}
    if not ids:
        return {}
    rows = User.objects.filter(pk__in=ids).values(*_RECIPIENT_COLUMNS)
    return {row["id"]: recipient_from_row(row) for row in rows}


def users_with_devices(user_ids: Iterable[Any]) -> set[Any]:
    ids = set(user_ids)
    if not ids:
        return set()
    return set(
        PushNotificationToken.objects.filter(user_id__in=ids, enabled=True)
        .values_list("user_id", flat=True)
        .distinct()
    )


def user_notifications(qs: QuerySet[Notification], *, user: Any) -> QuerySet[Notification]:
    return qs.filter(recipient=user)


def user_push_tokens(qs: QuerySet[PushNotificationToken], *, user: Any) -> QuerySet[PushNotificationToken]:
    return qs.filter(user=user)
