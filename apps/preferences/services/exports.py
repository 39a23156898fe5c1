"""Personal data export: one zip of JSON files per user request, built by Celery.

Sections come from a registry: later domains (posts, sent messages, ledger)
add theirs with ``register_export_section`` without touching this module.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User, UserSession
from apps.core import audit, ratelimit
from apps.core.exceptions import Conflict
from apps.core.redis import key, lock

from ..mail import send_account_mail_on_commit
from ..models import DataExport, LoginHistory, UserPreferences, UserSettings
from .account_settings import SETTINGS_FIELDS

logger = logging.getLogger(__name__)

Status = DataExport.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
#: besides one in flight at a time: at most this many exports per user and day
DAILY_RATE = "5/d"
#: an export queued or running this long is considered lost and marked failed
STUCK_AFTER = timedelta(hours=6)
BUILD_LOCK_SECONDS = 15 * 60
FORMAT_VERSION = 1

Section = Callable[[User], Any]
_SECTIONS: list[tuple[str, Section]] = []


def register_export_section(name: str) -> Callable[[Section], Section]:
    """Add ``<name>.json`` to every export; ``fn(user)`` returns JSON-serialisable data.

    Extension point for posts, sent messages, ledger entries (later domains).
    """

    def register(fn: Section) -> Section:
        _SECTIONS[:] = [(n, f) for n, f in _SECTIONS if n != name]
        _SECTIONS.append((name, fn))
        return fn

    return register


def export_sections() -> list[tuple[str, Section]]:
    return list(_SECTIONS)


@register_export_section("profile")
def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "email": user.email,
        "handle": user.handle,
        "display_name": user.display_name,
        "bio": user.bio,
        "avatar": user.avatar.name if user.avatar else None,
        "network": {"id": user.network_id, "name": user.network.name, "slug": user.network.slug},
        "network_role": user.network_role,
        "state": user.state,
        "created_at": user.created_at,
        "last_seen_at": user.last_seen_at,
        "signup_attribution": user.signup_attribution,
    }


@register_export_section("settings")
def _settings(user: User) -> dict[str, Any] | None:
    row = UserSettings.objects.filter(user=user).first()
    return None if row is None else {name: getattr(row, name) for name in (*SETTINGS_FIELDS, "updated_at")}


@register_export_section("preferences")
def _preferences(user: User) -> dict[str, Any] | None:
    row = UserPreferences.objects.filter(user=user).first()
    return None if row is None else {"data": row.data, "version": row.version, "updated_at": row.updated_at}


@register_export_section("login_history")
def _login_history(user: User) -> list[dict[str, Any]]:
    return list(
        LoginHistory.objects.filter(user=user)
        .order_by("-id")
        .values("created_at", "event", "method", "provider", "failure_reason", "ip", "user_agent", "country")
        .iterator(chunk_size=2000)
    )


@register_export_section("organization_memberships")
def _memberships(user: User) -> list[dict[str, Any]]:
    from apps.organizations.models import OrganizationMember

    return [
        {
            "organization": {
                "id": m.organization_id,
                "name": m.organization.name,
                "slug": m.organization.slug,
            },
            "role": m.role,
            "status": m.status,
            "joined_at": m.joined_at,
        }
        for m in OrganizationMember.objects.filter(user=user).select_related("organization").order_by("id")
    ]


@register_export_section("sessions")
def _sessions(user: User) -> list[dict[str, Any]]:
    return list(
        UserSession.objects.filter(user=user)
        .order_by("-id")
        .values("created_at", "kind", "ip", "user_agent", "device_label", "last_seen_at", "revoked_at")
    )


@transaction.atomic
def request_data_export(*, actor: User) -> DataExport:
    # the user row lock serialises concurrent requests; the partial unique index is the backstop
    User.objects.select_for_update().filter(pk=actor.pk).first()
    if DataExport.objects.filter(user=actor, status__in=ACTIVE).exists():
        raise Conflict("An export is already being prepared.", code="export_in_progress")
    ratelimit.enforce(f"data-export:{actor.pk}", DAILY_RATE, message="Too many exports today.")
    try:
        with transaction.atomic():
            export = DataExport.objects.create(network_id=actor.network_id, user=actor)
    except IntegrityError as exc:
        raise Conflict("An export is already being prepared.", code="export_in_progress") from exc
    from ..tasks import build_export

    export_id = str(export.pk)
    transaction.on_commit(lambda: build_export.delay(export_id))
    audit.record(network=actor.network_id, actor=actor, action="account.export.requested", target=export)
    return export


def _set_progress(export_id: Any, progress: int) -> None:
    DataExport.objects.filter(pk=export_id, status=Status.RUNNING).update(
        progress=progress, updated_at=timezone.now()
    )


def export_file_name(export: DataExport) -> str:
    return f"exports/{export.user_id}/{export.pk}.zip"


def _write_archive(export: DataExport, fh: Any) -> None:
    user = User.objects.select_related("network").get(pk=export.user_id)
    sections = export_sections()
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for done, (name, build) in enumerate(sections, start=1):
            payload = json.dumps(build(user), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
            archive.writestr(f"{name}.json", payload)
            _set_progress(export.pk, done * 90 // len(sections))
        manifest = {
            "format_version": FORMAT_VERSION,
            "export_id": export.pk,
            "user_id": export.user_id,
            "created_at": timezone.now(),
            "sections": [name for name, _ in sections],
        }
        archive.writestr("manifest.json", json.dumps(manifest, cls=DjangoJSONEncoder, indent=2))


def build_export(*, export_id: Any) -> DataExport | None:
    """Build and store the zip; idempotent: a ready, failed or expired export is left alone."""
    with lock(key("preferences", "export-build", export_id), ttl=BUILD_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("export %s is being built by another worker", export_id)
            return None
        return _build_export(export_id)


def _build_export(export_id: Any) -> DataExport | None:
    claimed = DataExport.objects.filter(pk=export_id, status__in=ACTIVE).update(
        status=Status.RUNNING, progress=0, error="", updated_at=timezone.now()
    )
    if not claimed:
        return None
    export = DataExport.objects.get(pk=export_id)
    name = export_file_name(export)
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as fh:
        _write_archive(export, fh)
        fh.seek(0)
        if default_storage.exists(name):
            default_storage.delete(name)
        stored = default_storage.save(name, File(fh, name=name))
    now = timezone.now()
    with transaction.atomic():
        finished = DataExport.objects.filter(pk=export_id, status=Status.RUNNING).update(
            status=Status.READY,
            progress=100,
            file=stored,
            expires_at=now + timedelta(days=settings.DATA_EXPORT_TTL_DAYS),
            updated_at=now,
        )
        if not finished:  # cancelled under us (account purged): do not leave the file behind
            transaction.on_commit(lambda: default_storage.delete(stored))
            return None
        export = DataExport.objects.select_related("user", "network").get(pk=export_id)
        if export.user.email and export.user.is_active:
            send_account_mail_on_commit(
                to=export.user.email,
                template="export_ready",
                context={"user": export.user, "expires_at": export.expires_at},
                network=export.network,
            )
    return export


def fail_export(*, export_id: Any, error: str) -> None:
    DataExport.objects.filter(pk=export_id, status__in=ACTIVE).update(
        status=Status.FAILED, error=error[:2000], updated_at=timezone.now()
    )


def expire_exports(*, now: Any = None) -> int:
    """Delete files past their expiry (status ``expired``); fail exports stuck in flight."""
    now = now or timezone.now()
    DataExport.objects.filter(status__in=ACTIVE, updated_at__lt=now - STUCK_AFTER).update(
        status=Status.FAILED, error="The export did not finish in time.", updated_at=now
    )
    expired = 0
    for export in DataExport.objects.filter(status=Status.READY, expires_at__lte=now).only("id", "file"):
        if export.file:
            default_storage.delete(export.file.name)
        expired += DataExport.objects.filter(pk=export.pk, status=Status.READY).update(
            status=Status.EXPIRED, file=None, updated_at=now
        )
    return expired
