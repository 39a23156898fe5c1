"""The inbox's one door: every domain reports to a user through ``deliver_inbox_item``.

INTERFACE (fixed; other domains call it):

    deliver_inbox_item(
        *, recipient, kind: str, target_type: str, target_id,
        actor=None, title: str = "", body: str = "", target_url: str = "",
        data: dict | None = None, requires_action: bool = False,
        skip_channels=(), notify: bool = True,
    ) -> None

    close_action_items(*, kind: str, target_type: str, target_id, state: str = "done") -> None

Both are safe to call inside a transaction: they act on commit (every call of
one transaction is written together, in call order, see ``delivery``) and
never raise for a recipient who cannot receive (self-action, a block, a
muted kind, an inactive user, another network). A wrong argument (unknown
kind, a target id that is not a UUID) is a programming error and raises
``ValueError`` at once. Optional: ``skip_channels`` names notification
channels the caller served itself (it already sent the email);
``notify=False`` records the item without notifying.

Item states (the recipient's own rows only; anything else is a 404):
unread ⇄ read (``mark_read``/``mark_unread``), active ⇄ archived
(``archive``/``unarchive``), snoozed until a time (hidden from the lists and
the unread count until then; a new event wakes it). ``mark_all_read`` works
in batches of 1,000, newest first, and says whether it got to the end.
Action items (``requires_action``) are ``pending`` until the domain that
asked closes them (``done``/``dismissed``).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.core.oncommit import on_commit_batch

from . import selectors
from .delivery import Close as _Close
from .delivery import Event, flush_batch
from .models import ActionState, InboxItem, InboxKind

logger = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_BODY = 2000
MAX_URL = 500
MAX_SNOOZE = timedelta(days=365)


def _uuid(value: Any, *, name: str) -> uuid.UUID:
    value = getattr(value, "pk", value)
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{name} must be a UUID, got {value!r}") from exc


def _json_text(data: dict | None) -> str:
    if data is None:
        return "{}"
    if not isinstance(data, dict):
        raise ValueError("data must be a dict")
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))


#: checked on every call (``InboxKind.values`` builds a list each time)
_KINDS = frozenset(InboxKind.values)


def deliver_inbox_item(
    *,
    recipient: Any,
    kind: str,
    target_type: str,
    target_id: Any,
    actor: Any = None,
    title: str = "",
    body: str = "",
    target_url: str = "",
    data: dict | None = None,
    requires_action: bool = False,
    skip_channels: tuple[str, ...] | frozenset[str] = (),
    notify: bool = True,
) -> None:
    if recipient is None:
        return
    if kind not in _KINDS:
        raise ValueError(f"unknown inbox kind {kind!r} (add it to apps.inbox.models.InboxKind)")
    if not isinstance(target_type, str) or not target_type or len(target_type) > 40:
        raise ValueError("target_type must be a non-empty string of at most 40 characters")
    recipient_id = _uuid(recipient, name="recipient")
    actor_id = _uuid(actor, name="actor") if actor is not None else None
    if actor_id == recipient_id:
        return  # your own action is not news to you
    recipient_network = getattr(recipient, "network_id", None)
    actor_network = getattr(actor, "network_id", None)
    if recipient_network and actor_network and recipient_network != actor_network:
        logger.warning("inbox: %s of %s for a recipient of another network dropped", kind, actor_id)
        return
    if target_url and len(target_url) > MAX_URL:
        logger.warning("inbox: target_url longer than %s characters dropped", MAX_URL)
        target_url = ""
    event = Event(
        recipient_id=recipient_id,
        kind=kind,
        target_type=target_type,
        target_id=_uuid(target_id, name="target_id"),
        actor_id=actor_id,
        actor=actor if hasattr(actor, "pk") else None,
        title=str(title or InboxKind(kind).label)[:MAX_TITLE],
        body=str(body or "")[:MAX_BODY],
        target_url=target_url or "",
        data=_json_text(data),
        requires_action=bool(requires_action),
        skip_channels=frozenset(skip_channels),
        notify=notify,
    )
    on_commit_batch(flush_batch, event)


#: where security notices link to (the account's security settings)
SECURITY_URL = "/settings/security/"


def report_security_event(
    *,
    user: Any,
    event: str,
    title: str,
    target_type: str,
    target_id: Any,
    body: str = "",
    data: dict | None = None,
    mailed: bool = False,
) -> None:
    """A ``security`` item (never mutable for inbox and email) for an event on the user's account.

    ``mailed``: the caller already emails this event, so no second email.
    """
    deliver_inbox_item(
        recipient=user,
        kind="security",
        target_type=target_type,
        target_id=target_id,
        title=title,
        body=body,
        target_url=SECURITY_URL,
        data={"event": event, **(data or {})},
        skip_channels=("email",) if mailed else (),
    )


def close_action_items(*, kind: str, target_type: str, target_id: Any, state: str = "done") -> None:
    if kind not in InboxKind.values:
        raise ValueError(f"unknown inbox kind {kind!r}")
    if state not in (ActionState.DONE, ActionState.DISMISSED):
        raise ValueError("state must be 'done' or 'dismissed'")
    on_commit_batch(
        flush_batch,
        _Close(kind=kind, target_type=target_type, target_id=_uuid(target_id, name="target_id"), state=state),
    )


# --- the recipient's own items ------------------------------------------------------


def _own(actor: Any, item: InboxItem) -> InboxItem:
    row = InboxItem.objects.select_for_update(of=("self",)).filter(pk=item.pk, recipient_id=actor.pk).first()
    if row is None:
        raise NotFound()
    return row


def _changed(actor: Any, row: InboxItem, **fields: Any) -> InboxItem:
    now = timezone.now()
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = now
    row.save(update_fields=[*fields, "updated_at"])
    send_unread_count_on_commit(actor.pk)
    return row


def send_unread_count_on_commit(user_id: Any) -> None:
    def send() -> None:
        from apps.accounts.services import user_group
        from apps.realtime.presence import connected_user_ids
        from apps.realtime.services import broadcast

        from .payloads import unread_event

        selectors.unread_changed([user_id])
        if str(user_id) in connected_user_ids([user_id]):
            broadcast(user_group(user_id), unread_event(unread_count=selectors.unread_count(user_id=user_id)))

    transaction.on_commit(send, robust=True)


@transaction.atomic
def mark_read(*, actor: Any, item: InboxItem) -> InboxItem:
    row = _own(actor, item)
    if row.read_at is not None:
        return row
    return _changed(actor, row, read_at=timezone.now())


@transaction.atomic
def mark_unread(*, actor: Any, item: InboxItem) -> InboxItem:
    row = _own(actor, item)
    if row.read_at is None:
        return row
    return _changed(actor, row, read_at=None)


@transaction.atomic
def archive(*, actor: Any, item: InboxItem) -> InboxItem:
    row = _own(actor, item)
    if row.archived_at is not None:
        return row
    now = timezone.now()
    return _changed(actor, row, archived_at=now, read_at=row.read_at or now)


@transaction.atomic
def unarchive(*, actor: Any, item: InboxItem) -> InboxItem:
    row = _own(actor, item)
    if row.archived_at is None:
        return row
    try:
        with transaction.atomic():
            return _changed(actor, row, archived_at=None)
    except IntegrityError as exc:  # a newer item for the same target is open
        raise Conflict(
            "A newer item about the same thing is already in your inbox.", code="newer_item_exists"
        ) from exc


@transaction.atomic
def snooze(*, actor: Any, item: InboxItem, until: datetime) -> InboxItem:
    now = timezone.now()
    if until <= now:
        raise ValidationFailed("Snooze until a time in the future.", field="until", code="in_the_past")
    if until > now + MAX_SNOOZE:
        raise ValidationFailed("Snooze for at most a year.", field="until", code="too_far")
    row = _own(actor, item)
    if row.archived_at is not None:
        raise Conflict("Archived items cannot be snoozed.", code="invalid_state")
    return _changed(actor, row, snoozed_until=until)


def mark_all_read(*, actor: Any, before: datetime | None = None, kind: str | None = None) -> dict[str, Any]:
    """Up to ``INBOX_MARK_ALL_READ_BATCHES`` batches of 1,000 (newest first), each its own transaction.

    ``complete`` is False while unread items remain: the client calls again
    (with the same ``before``, so items that arrived meanwhile stay unread).
    """
    size = settings.INBOX_MARK_ALL_READ_BATCH
    now = timezone.now()
    unread = InboxItem.objects.filter(
        Q(read_at__isnull=True, archived_at__isnull=True), recipient_id=actor.pk
    )
    if before is not None:
        unread = unread.filter(last_event_at__lte=before)
    if kind:
        unread = unread.filter(kind=kind)
    updated = 0
    complete = False
    for _ in range(settings.INBOX_MARK_ALL_READ_BATCHES):
        with transaction.atomic():
            batch = unread.order_by("-last_event_at", "-id").values("pk")[:size]
            count = InboxItem.objects.filter(pk__in=batch, read_at__isnull=True).update(
                read_at=now, updated_at=now
            )
        updated += count
        if count < size:
            complete = True
            break
    if updated:
        send_unread_count_on_commit(actor.pk)
    return {"updated": updated, "complete": complete}


def purge(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Daily: archived items older than 180 days, read items older than 365 days (in batches)."""
    now = now or timezone.now()
    archived_cutoff = now - timedelta(days=settings.INBOX_ARCHIVED_RETENTION_DAYS)
    read_cutoff = now - timedelta(days=settings.INBOX_READ_RETENTION_DAYS)
    # an item's last event precedes its archiving and reading: the index on last_event_at bounds the scan
    old = InboxItem.objects.filter(last_event_at__lt=max(archived_cutoff, read_cutoff)).filter(
        Q(archived_at__lt=archived_cutoff) | Q(read_at__lt=read_cutoff)
    )
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += InboxItem.objects.filter(pk__in=ids).delete()[0]
