"""Reads of the preferences domain (all take the user; rows never cross users)."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import FileSystemStorage
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from storages.backends.s3 import S3Storage

from .models import (
    AccountDeletionRequest,
    DataExport,
    LoginHistory,
    PendingEmailChange,
    UserPreferences,
    UserSettings,
)

#: S3 refuses presigned URLs valid for more than 7 days
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def user_settings(*, user: Any) -> UserSettings:
    """The user's settings, or unsaved defaults (the row is created on the first write)."""
    row = UserSettings.objects.filter(user=user).first()
    return row or UserSettings(user=user, network_id=user.network_id)


def user_preferences(*, user: Any) -> UserPreferences:
    row = UserPreferences.objects.filter(user=user).first()
    return row or UserPreferences(user=user, network_id=user.network_id)


def login_history(qs: QuerySet[LoginHistory], *, user: Any) -> QuerySet[LoginHistory]:
    return qs.filter(user=user)


def open_email_change(*, user: Any) -> PendingEmailChange | None:
    return PendingEmailChange.objects.filter(
        user=user, confirmed_at__isnull=True, cancelled_at__isnull=True
    ).first()


def pending_deletion(*, user: Any) -> AccountDeletionRequest | None:
    return AccountDeletionRequest.objects.filter(
        user=user, status=AccountDeletionRequest.Status.PENDING
    ).first()


def user_exports(qs: QuerySet[DataExport], *, user: Any) -> QuerySet[DataExport]:
    return qs.filter(user=user)


def is_downloadable(export: DataExport) -> bool:
    return bool(
        export.status == DataExport.Status.READY
        and export.file
        and export.expires_at
        and export.expires_at > timezone.now()
    )


def export_download_url(export: DataExport, *, request: Any = None) -> str | None:
    """Filesystem storage: our authenticated download view; S3: a presigned URL until expiry."""
    if not is_downloadable(export):
        return None
    storage = export.file.storage
    if isinstance(storage, S3Storage):
        seconds = int((export.expires_at - timezone.now()).total_seconds())
        return storage.url(export.file.name, expire=max(1, min(seconds, MAX_PRESIGN_SECONDS)))
    if isinstance(storage, FileSystemStorage):
        path = reverse("account-export-download", kwargs={"pk": export.pk})
        return request.build_absolute_uri(path) if request is not None else path
    return storage.url(export.file.name)
