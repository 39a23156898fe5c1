"""From notices to delivery rows: one INSERT for a whole batch, side effects after commit.

``dispatch(notices)`` decides per notice and channel (``rules``): ``in_app``
rows are written as sent and go out as the socket ``notification`` event;
``push`` rows exist only for users with an enabled device and are due now or
at the end of quiet hours; ``email`` rows are due now for the immediate kinds
and otherwise wait for the digest. Rows are inserted with ON CONFLICT DO
NOTHING on (network, recipient, channel, dedupe_key): a notice sent twice is
delivered once. It returns the work to run once the rows are committed
(``deliver`` tasks, socket events).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.core.ids import uuid7

from . import rules, selectors
from .models import Notification
from .rules import Recipient


@dataclass(slots=True)
class Notice:
    recipient_id: Any
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    dedupe_key: str
    inbox_item_id: Any = None
    skip_channels: frozenset[str] = field(default_factory=frozenset)


@dataclass(slots=True)
class _Row:
    id: Any
    network_id: Any
    recipient_id: Any
    inbox_item_id: Any
    kind: str
    channel: str
    title: str
    body: str
    data: str
    status: str
    sent_at: datetime | None
    dedupe_key: str
    is_digest: bool
    next_attempt_at: datetime | None


_INSERT_COLUMNS = (
    "id, created_at, updated_at, network_id, recipient_id, inbox_item_id, kind, channel, title, body, "
    "data, status, attempts, sent_at, error, dedupe_key, is_digest, next_attempt_at, delivered_token_ids"
)


def _rows_for(notice: Notice, recipient: Recipient, *, has_device: bool, now: datetime) -> list[_Row]:
    rows: list[_Row] = []
    data = json.dumps(notice.data, separators=(",", ":"))

    def row(
        channel: str, *, status: str = "pending", due: datetime | None = None, digest: bool = False
    ) -> None:
        rows.append(
            _Row(
                id=uuid7(),
                network_id=recipient.network_id,
                recipient_id=recipient.id,
                inbox_item_id=notice.inbox_item_id,
                kind=notice.kind,
                channel=channel,
                title=notice.title,
                body=notice.body,
                data=data,
                status=status,
                sent_at=now if status == "sent" else None,
                dedupe_key=notice.dedupe_key,
                is_digest=digest,
                next_attempt_at=due,
            )
        )

    wanted = {c for c in rules.CHANNELS if c not in notice.skip_channels and recipient.wants(notice.kind, c)}
    if not wanted:
        return rows
    quiet_end = recipient.quiet_until(now) if ({"push", "email"} & wanted) else None
    if "in_app" in wanted:
        row("in_app", status="sent")
    if "push" in wanted and has_device:
        row("push", due=quiet_end or now)
    if "email" in wanted and recipient.email:
        digest_on = recipient.email_digest != "off"
        if notice.kind in rules.IMMEDIATE_EMAIL_KINDS:
            if quiet_end is None or notice.kind in rules.NEVER_HELD:
                row("email", due=now)
            elif digest_on:
                row("email", digest=True)
            else:
                row("email", due=quiet_end)
        elif digest_on:
            row("email", digest=True)
    return rows


def _insert(rows: list[_Row], now: datetime) -> list[tuple[Any, Any, str]]:
    """INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING; the (id, recipient_id, channel) inserted.

    One array per column: 16 parameters and one statement text at any batch size (no
    placeholder list for the driver to build and the server to parse)."""
    if not rows:
        return []
    table = Notification._meta.db_table
    names = (
        "id", "network_id", "recipient_id", "inbox_item_id", "kind", "channel", "title", "body", "data",
        "status", "sent_at", "dedupe_key", "is_digest", "next_attempt_at",
    )  # fmt: skip
    columns = [[getattr(r, name) for r in rows] for name in names]
    sql = (
        f"INSERT INTO {table} ({_INSERT_COLUMNS}) "  # noqa: S608 — table from the model, values bound
        "SELECT x.id, %s, %s, x.network_id, x.recipient_id, x.inbox_item_id, x.kind, x.channel, x.title, x.body, "
        "x.data::jsonb, x.status, 0, x.sent_at, '', x.dedupe_key, x.is_digest, x.next_attempt_at, '{}'::uuid[] "
        "FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::varchar[], %s::varchar[], "
        "%s::varchar[], %s::text[], %s::text[], %s::varchar[], %s::timestamptz[], %s::varchar[], "
        "%s::boolean[], %s::timestamptz[]) "
        f"AS x({', '.join(names)}) "
        "ON CONFLICT (network_id, recipient_id, channel, dedupe_key) DO NOTHING "
        "RETURNING id, recipient_id, channel"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, *columns])
        return list(cursor.fetchall())


#: rows per INSERT statement (bounds its memory)
_CHUNK = 2000


def dispatch(
    notices: Iterable[Notice], *, recipients: dict[Any, Recipient] | None = None, now: datetime | None = None
) -> Callable[[], None] | None:
    """Write the delivery rows of ``notices``; return what must happen once they are committed."""
    notices = list(notices)
    if not notices:
        return None
    now = now or timezone.now()
    if recipients is None:
        recipients = selectors.recipients(n.recipient_id for n in notices)
    live = [(n, recipients[n.recipient_id]) for n in notices if n.recipient_id in recipients]
    live = [(n, r) for n, r in live if r.is_active]
    may_push = {r.id for n, r in live if "push" not in n.skip_channels and r.wants(n.kind, "push")}
    with_device = selectors.users_with_devices(may_push) if may_push else set()
    rows = [row for n, r in live for row in _rows_for(n, r, has_device=r.id in with_device, now=now)]
    by_id = {row.id: row for row in rows}
    inserted: list[tuple[Any, Any, str]] = []
    for start in range(0, len(rows), _CHUNK):
        inserted += _insert(rows[start : start + _CHUNK], now)
    if not inserted:
        return None
    due_now = [row_id for row_id, _, channel in inserted if channel != "in_app" and _due(by_id[row_id], now)]
    in_app = [by_id[row_id] for row_id, _, channel in inserted if channel == "in_app"]

    def after_commit() -> None:
        from .tasks import deliver

        for row_id in due_now:
            deliver.delay(str(row_id))
        if in_app:
            _broadcast_in_app(in_app)

    return after_commit


def _due(row: _Row, now: datetime) -> bool:
    return not row.is_digest and row.next_attempt_at is not None and row.next_attempt_at <= now


def notification_payload(row: Any) -> dict[str, Any]:
    data = row.data if isinstance(row.data, dict) else json.loads(row.data)
    sent_at = row.sent_at
    return {
        "type": "notification",
        "notification": {
            "id": str(row.id),
            "kind": row.kind,
            "title": row.title,
            "body": row.body,
            "data": data,
            "inbox_item_id": str(row.inbox_item_id) if row.inbox_item_id else None,
            "created_at": sent_at.isoformat() if sent_at else None,
        },
    }


def _broadcast_in_app(rows: list[_Row]) -> None:
    from apps.accounts.services import user_group
    from apps.realtime.presence import connected_user_ids
    from apps.realtime.services import broadcast_many

    online = connected_user_ids({row.recipient_id for row in rows})
    broadcast_many(
        (user_group(row.recipient_id), notification_payload(row))
        for row in rows
        if str(row.recipient_id) in online
    )
