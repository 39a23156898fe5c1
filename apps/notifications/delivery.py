"""Delivering notification rows: one claim per attempt, retries with backoff, digests, pruning.

States: ``pending`` → ``sent`` | ``skipped`` (with ``skip_reason``) | ``failed``.
A ``failed`` row with a ``next_attempt_at`` is retried (after 30 s, 2 min,
10 min: four attempts in all); without one it failed for good.

Claim: ``deliver_notification`` bumps ``attempts`` and sets a lease in one
conditional UPDATE (``status`` pending/failed, due, attempts left), so two
workers, a redelivered task and ``retry_failed`` never send the same row
twice at once; the lease (``next_attempt_at`` = now + 2 min) lets
``retry_failed`` pick up a row whose worker died. Push: each device that
accepted the message is remembered in ``delivered_token_ids`` and never
pushed again by a retry; a device the push service calls gone (404/410) is
deleted.

At delivery, a row is skipped when its reason to exist has gone: the user
was deactivated or muted the kind × channel since, the inbox item was read
(push), a registered ``push_suppressor`` says the user is looking at it
(chat: active in that conversation), no device is left. Push that lands in
quiet hours waits for their end.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.ids import uuid7_floor

from . import push, rules, selectors
from .models import Notification, PushNotificationToken

logger = logging.getLogger(__name__)

Status = Notification.Status
Channel = Notification.Channel

#: seconds before the 2nd, 3rd and 4th attempt
BACKOFF = (30, 120, 600)
MAX_ATTEMPTS = 1 + len(BACKOFF)
LEASE = timedelta(minutes=2)
RETRY_BATCH = 1000
DIGEST_MAX_LISTED = 30
PRUNE_BATCH = 5000

_push_suppressors: list[Callable[[Notification], bool]] = []


def register_push_suppressor(check: Callable[[Notification], bool]) -> None:
    """``check(notification) -> bool``: True when the user is already looking at it (no push)."""
    if check not in _push_suppressors:
        _push_suppressors.append(check)


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | skipped | failed | retry | deferred | not_due
    retry_in: int | None = None
    detail: str = ""


def _claim(notification_id: Any, now: datetime) -> Notification | None:
    claimed = (
        Notification.objects.filter(
            pk=notification_id,
            status__in=[Status.PENDING, Status.FAILED],
            is_digest=False,
            next_attempt_at__lte=now,
            attempts__lt=MAX_ATTEMPTS,
        )
        .exclude(channel=Channel.IN_APP)
        .update(attempts=F("attempts") + 1, next_attempt_at=now + LEASE, updated_at=now)
    )
    if not claimed:
        return None
    return Notification.objects.select_related("recipient__network", "inbox_item").get(pk=notification_id)


def _finish(row: Notification, *, status: str, skip_reason: str | None = None, error: str = "",
            next_attempt_at: datetime | None = None, now: datetime, **extra: Any) -> None:  # fmt: skip
    fields = {
        "status": status,
        "skip_reason": skip_reason,
        "error": error[:2000],
        "next_attempt_at": next_attempt_at,
        "updated_at": now,
        **extra,
    }
    if status == Status.SENT:
        fields["sent_at"] = now
    Notification.objects.filter(pk=row.pk).update(**fields)


def _skip_reason(row: Notification, now: datetime) -> str | None:
    user = row.recipient
    if not user.is_active:
        return "inactive"
    recipient = selectors.recipients([user.pk]).get(user.pk)
    if recipient is None or not recipient.wants(row.kind, row.channel):
        return "muted"
    if row.channel == Channel.PUSH:
        item = row.inbox_item
        if item is not None and (item.read_at is not None or item.archived_at is not None):
            return "read"
        if any(check(row) for check in _push_suppressors):
            return "active"
    return None


def deliver_notification(*, notification_id: Any, now: datetime | None = None) -> Outcome:
    now = now or timezone.now()
    row = _claim(notification_id, now)
    if row is None:
        return Outcome("not_due")
    reason = _skip_reason(row, now)
    if reason is not None:
        _finish(row, status=Status.SKIPPED, skip_reason=reason, now=now)
        return Outcome("skipped", detail=reason)
    if row.channel == Channel.PUSH:
        recipient = selectors.recipients([row.recipient_id])[row.recipient_id]
        quiet_end = recipient.quiet_until(now)
        if quiet_end is not None:  # a retry that lands in quiet hours waits, without using an attempt
            Notification.objects.filter(pk=row.pk).update(
                status=Status.PENDING, next_attempt_at=quiet_end, attempts=F("attempts") - 1, updated_at=now
            )
            return Outcome("deferred")
        return _deliver_push(row, now)
    return _deliver_email(row, now)


# --- push ---------------------------------------------------------------------------


def apply_push_result(*, token: PushNotificationToken, result: push.PushResult) -> None:
    """A device's health after one send: gone → deleted; repeated failures (its own) → disabled."""
    if result.outcome == "gone":
        PushNotificationToken.objects.filter(pk=token.pk).delete()
        logger.info("push device %s is gone (%s); deleted", token.pk, result.status)
    elif result.ok:
        if token.failure_count:
            PushNotificationToken.objects.filter(pk=token.pk).update(failure_count=0)
    elif result.device_fault:  # missing or refused credentials are not the device's failure
        PushNotificationToken.objects.filter(pk=token.pk).update(failure_count=F("failure_count") + 1)
        PushNotificationToken.objects.filter(
            pk=token.pk, failure_count__gte=settings.PUSH_TOKEN_MAX_FAILURES
        ).update(enabled=False)


def _deliver_push(row: Notification, now: datetime) -> Outcome:
    delivered = list(row.delivered_token_ids)
    tokens = list(
        PushNotificationToken.objects.filter(user_id=row.recipient_id, enabled=True).exclude(pk__in=delivered)
    )
    payload = push.push_payload(notification=row)
    retry_errors: list[str] = []
    rejected: list[str] = []
    retry_after = 0
    for token in tokens:
        result = push.provider_for(token.provider).send(token, payload)
        apply_push_result(token=token, result=result)
        if result.ok:
            delivered.append(token.pk)
        elif result.outcome == "retry":
            retry_errors.append(f"{token.token_hint}: {result.error or result.status}")
            retry_after = max(retry_after, result.retry_after or 0)
        elif result.outcome == "rejected":
            rejected.append(f"{token.token_hint}: {result.error or result.status}")
    errors = "; ".join(retry_errors + rejected)
    if retry_errors and row.attempts < MAX_ATTEMPTS:
        delay = min(max(BACKOFF[row.attempts - 1], retry_after), 3600)
        _finish(row, status=Status.FAILED, error=errors, next_attempt_at=now + timedelta(seconds=delay),
                now=now, delivered_token_ids=delivered)  # fmt: skip
        return Outcome("retry", retry_in=delay, detail=errors)
    if delivered:
        _finish(row, status=Status.SENT, error=errors, now=now, delivered_token_ids=delivered)
        return Outcome("sent")
    if retry_errors or rejected:
        _finish(row, status=Status.FAILED, error=errors, now=now, delivered_token_ids=delivered)
        return Outcome("failed", detail=errors)
    _finish(row, status=Status.SKIPPED, skip_reason="no_device", now=now)
    return Outcome("skipped", detail="no_device")


# --- email --------------------------------------------------------------------------

try:  # SES through boto3 when configured
    from botocore.exceptions import BotoCoreError, ClientError

    _MAIL_ERRORS: tuple[type[BaseException], ...] = (
        smtplib.SMTPException,
        OSError,
        BotoCoreError,
        ClientError,
    )
except ImportError:  # pragma: no cover
    _MAIL_ERRORS = (smtplib.SMTPException, OSError)


def absolute_link(url: str) -> str:
    if not url:
        return ""
    return (
        url if url.startswith(("http://", "https://")) else urljoin(settings.SITE_URL + "/", url.lstrip("/"))
    )


def _deliver_email(row: Notification, now: datetime) -> Outcome:
    from apps.core.mail import send_mail_now

    user = row.recipient
    if not user.email:
        _finish(row, status=Status.SKIPPED, skip_reason="no_email", now=now)
        return Outcome("skipped", detail="no_email")
    try:
        sent = send_mail_now(
            to=user.email,
            template="notifications/emails/notification",
            context={
                "user": user,
                "notification": row,
                "link": absolute_link(str(row.data.get("url") or "")),
            },
            network=user.network,
            essential=row.kind in rules.NEVER_HELD,
        )
    except _MAIL_ERRORS as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        if row.attempts < MAX_ATTEMPTS:
            delay = BACKOFF[row.attempts - 1]
            _finish(
                row,
                status=Status.FAILED,
                error=error,
                next_attempt_at=now + timedelta(seconds=delay),
                now=now,
            )
            return Outcome("retry", retry_in=delay, detail=error)
        _finish(row, status=Status.FAILED, error=error, now=now)
        return Outcome("failed", detail=error)
    if not sent:
        _finish(row, status=Status.SKIPPED, skip_reason="suppressed", now=now)
        return Outcome("skipped", detail="suppressed")
    _finish(row, status=Status.SENT, now=now)
    return Outcome("sent")


# --- jobs ---------------------------------------------------------------------------


def due_for_retry(*, now: datetime | None = None, limit: int = RETRY_BATCH) -> list[Any]:
    """Rows whose time has come: failed with a retry due, deferred past quiet hours, or a lost lease."""
    now = now or timezone.now()
    return list(
        Notification.objects.filter(
            status__in=[Status.PENDING, Status.FAILED],
            is_digest=False,
            next_attempt_at__lte=now,
            attempts__lt=MAX_ATTEMPTS,
        )
        .exclude(channel=Channel.IN_APP)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )


def _digest_items(rows: list[Notification]) -> list[dict[str, str]]:
    return [{"title": r.title, "link": absolute_link(str((r.data or {}).get("url") or ""))} for r in rows]


def send_digest(*, user_id: Any, now: datetime | None = None) -> int:
    """One email with the user's pending digest rows (marked sent); 0 when there are none."""
    from apps.accounts.models import User
    from apps.core.mail import send_mail_now

    now = now or timezone.now()
    user = User.objects.select_related("network").filter(pk=user_id, is_active=True).first()
    pending = Notification.objects.filter(recipient_id=user_id, status=Status.PENDING, is_digest=True)
    if user is None or not user.email:
        pending.update(status=Status.SKIPPED, skip_reason="no_email", updated_at=now)
        return 0
    try:
        # sent inside the transaction: a mail error rolls the marking back (the rows wait for the next digest)
        with transaction.atomic():
            rows = list(pending.select_for_update(skip_locked=True).order_by("-id"))
            if not rows:
                return 0
            Notification.objects.filter(pk__in=[r.pk for r in rows]).update(
                status=Status.SENT, sent_at=now, updated_at=now, attempts=F("attempts") + 1
            )
            send_mail_now(
                to=user.email,
                template="notifications/emails/digest",
                context={
                    "user": user,
                    "count": len(rows),
                    "items": _digest_items(rows[:DIGEST_MAX_LISTED]),
                    "more": max(0, len(rows) - DIGEST_MAX_LISTED),
                },
                network=user.network,
            )
    except _MAIL_ERRORS as exc:
        logger.warning("digest for %s failed: %s", user_id, exc)
        return 0
    return len(rows)


def send_digests(*, now: datetime | None = None) -> dict[str, int]:
    """Hourly: every user with pending digest rows whose local time is 08:00–08:59 gets one email."""
    now = now or timezone.now()
    user_ids = list(
        Notification.objects.filter(status=Status.PENDING, is_digest=True)
        .values_list("recipient_id", flat=True)
        .distinct()
    )
    totals = {"users": 0, "notifications": 0, "skipped": 0}
    for start in range(0, len(user_ids), 500):
        for recipient in selectors.recipients(user_ids[start : start + 500]).values():
            if recipient.email_digest == "off":
                totals["skipped"] += Notification.objects.filter(
                    recipient_id=recipient.id, status=Status.PENDING, is_digest=True
                ).update(status=Status.SKIPPED, skip_reason="digest_off", updated_at=now)
                continue
            if not rules.digest_due(now, recipient.zone(), recipient.email_digest):
                continue
            sent = send_digest(user_id=recipient.id, now=now)
            if sent:
                totals["users"] += 1
                totals["notifications"] += sent
    return totals


def prune(*, now: datetime | None = None) -> dict[str, int]:
    """Daily: delivery rows past retention (by their time-ordered id), stale and disabled devices."""
    now = now or timezone.now()
    boundary = uuid7_floor(now - timedelta(days=settings.NOTIFICATION_RETENTION_DAYS))
    deleted = 0
    while True:
        ids = list(Notification.objects.filter(pk__lt=boundary).values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        deleted += Notification.objects.filter(pk__in=ids).delete()[0]
    stale = now - timedelta(days=settings.PUSH_TOKEN_STALE_DAYS)
    devices = PushNotificationToken.objects.filter(last_seen_at__lt=stale).delete()[0]
    devices += PushNotificationToken.objects.filter(
        enabled=False, updated_at__lt=now - timedelta(days=30)
    ).delete()[0]
    return {"notifications": deleted, "devices": devices}
