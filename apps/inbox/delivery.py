"""Writing inbox items: queued during the caller's transaction, written in one statement after it commits.

``deliver_inbox_item`` (services.py) checks its arguments at once and queues
an ``Event`` with ``on_commit_batch``; every event of one transaction is
then flushed together (a mention of 1,000 members is one INSERT):

1. events for the same (recipient, kind, target) merge (their distinct
   actors newest first, the latest title/body, merged data);
2. ONE ``INSERT … ON CONFLICT DO UPDATE`` writes them all. Its CTEs read the
   recipients and their settings (inactive users and kinds muted with
   ``in_app: false`` are left out), the blocks among them (an actor the
   recipient blocked is dropped from the event; an event left without
   actors is dropped: social's ``Block`` rows) and the prior state of the open rows (no
   COUNT of the recipient's unread items: a user with 100,000 items made that the
   dominant cost of every delivery). A repeat puts its actors in front of
   ``actor_ids`` (the last 5 distinct), adds the ones not among them to
   ``actor_count``, refreshes title/body/data, bumps ``last_event_at`` and
   makes the item unread (and un-snoozed) again; ``requires_action`` reopens
   the action. Rows are written in key order, so concurrent flushes lock alike;
3. items that are new or resurfaced (read or snoozed before) go to
   ``notify`` (same transaction, one INSERT); a repeat of an item still
   unread aggregates silently — a storm of 1,000 reactions is 1,000 cheap
   upserts and one notification;
4. after commit, the cached unread counts of recipients with a newly unread
   item are invalidated, and ``inbox.item`` {item, unread_count} goes to every
   recipient with a live socket (presence: asked of Redis before the statement
   and read after it, so the round trip overlaps PostgreSQL's work; counts from
   Redis, a grouped count for the misses), in one event-loop hop.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.db import statement_cursor
from apps.core.ids import uuid7
from apps.notifications import rules
from apps.notifications.dispatch import Notice, dispatch
from apps.notifications.rules import Recipient
from apps.realtime.presence import ConnectedAhead

from .models import InboxItem

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Event:
    recipient_id: Any
    kind: str
    target_type: str
    target_id: Any
    actor_id: Any
    actor: Any
    title: str
    body: str
    target_url: str
    data: str  # JSON text
    requires_action: bool
    skip_channels: frozenset[str] = field(default_factory=frozenset)
    notify: bool = True

    @property
    def key(self) -> tuple:
        return (self.recipient_id, self.kind, self.target_type, self.target_id)


@dataclass(slots=True)
class _Merged:
    """The events of one key in one flush: what one row of the statement writes."""

    last: Event
    actor_ids: list[Any]  # distinct, newest first
    actor: Any  # the newest actor's object, when the caller passed one
    data: dict[str, Any] | None  # merged data of several events; None: the lone event's own text
    target_url: str
    requires_action: bool
    notify: bool

    @property
    def key(self) -> tuple:
        return self.last.key


def _merge(events: list[Event]) -> list[_Merged]:
    merged: dict[tuple, _Merged] = {}
    for ev in events:
        row = merged.get(ev.key)
        if row is None:
            merged[ev.key] = _Merged(
                last=ev,
                actor_ids=[ev.actor_id] if ev.actor_id is not None else [],
                actor=ev.actor,
                data=None,  # a lone event's JSON text goes to the statement as it is
                target_url=ev.target_url,
                requires_action=ev.requires_action,
                notify=ev.notify,
            )
            continue
        if row.data is None:
            row.data = json.loads(row.last.data)
        row.last = ev
        if ev.actor_id is not None:
            if ev.actor_id in row.actor_ids:
                row.actor_ids.remove(ev.actor_id)
            row.actor_ids.insert(0, ev.actor_id)
            row.actor = ev.actor
        row.data.update(json.loads(ev.data))
        row.target_url = ev.target_url or row.target_url
        row.requires_action = row.requires_action or ev.requires_action
        row.notify = row.notify or ev.notify
    return list(merged.values())


def _blocked_sql() -> str:
    """The (blocker, blocked) pairs among this statement's recipients and actors: social's Block rows.

    Read inside the upsert (no extra round trip per event); until apps.social
    exists nobody has blocked anyone.
    """
    try:
        from apps.social.models import Block
    except ImportError:
        return "SELECT NULL::uuid AS blocker, NULL::uuid AS blocked WHERE false"
    table = Block._meta.db_table
    blocker = Block._meta.get_field("blocker").column
    blocked = Block._meta.get_field("blocked").column
    network = Block._meta.get_field("network").column
    # identifiers from model metadata, no input
    return (
        f"SELECT b.{blocker} AS blocker, b.{blocked} AS blocked FROM {table} b "  # noqa: S608
        f"WHERE b.{network} IN (SELECT network_id FROM rc) AND b.{blocker} IN (SELECT recipient_id FROM ev) "
        f"AND b.{blocked} IN (SELECT unnest(actor_ids) FROM ev)"
    )


def _tables() -> dict[str, str]:
    from apps.accounts.models import User
    from apps.preferences.models import UserSettings

    return {
        "item": InboxItem._meta.db_table,
        "user": User._meta.db_table,
        "settings": UserSettings._meta.db_table,
        "blocked": _blocked_sql(),
    }


#: the events travel as one array per column (14 parameters at any batch size: no statement text
#: that grows with the batch for the driver to build and the server to parse); actor ids and data
#: as text, cast per row
_EV_MANY = (
    "SELECT x.ord, x.id, x.recipient_id, x.kind, x.target_type, x.target_id, x.actor_ids::uuid[] AS actor_ids, "
    "x.title, x.body, x.target_url, x.data::jsonb AS data, x.requires_action, x.in_app_default, x.in_app_locked "
    "FROM unnest(%s::int[], %s::uuid[], %s::uuid[], %s::varchar[], %s::varchar[], %s::uuid[], %s::text[], "
    "%s::varchar[], %s::text[], %s::varchar[], %s::text[], %s::boolean[], %s::boolean[], %s::boolean[]) "
    "AS x(ord, id, recipient_id, kind, target_type, target_id, actor_ids, title, body, target_url, data, "
    "requires_action, in_app_default, in_app_locked)"
)

#: one event (a reaction, a reply: the hot path) as 14 scalars: no array to build on either side, and the
#: statement text stays under psycopg's cache limit (4,096 characters: its placeholder parsing is cached)
_EV_ONE = (
    "SELECT 0 AS ord, %s::uuid AS id, %s::uuid AS recipient_id, %s::varchar AS kind, %s::varchar AS target_type, "
    "%s::uuid AS target_id, %s::uuid[] AS actor_ids, %s::text AS title, %s::text AS body, "
    "%s::varchar AS target_url, %s::jsonb AS data, %s::boolean AS requires_action, "
    "%s::boolean AS in_app_default, %s::boolean AS in_app_locked"
)

_UPSERT = """
WITH p AS (SELECT %s::timestamptz AS now),
ev AS MATERIALIZED ({ev}),
rc AS (
    SELECT u.id, u.network_id, u.email, u.is_active, s.notification_choices AS choices, s.timezone,
           s.quiet_start, s.quiet_end, s.email_digest
    FROM {user} u LEFT JOIN {settings} s ON s.user_id = u.id
    WHERE u.id IN (SELECT recipient_id FROM ev) AND u.is_active
),
blocked AS MATERIALIZED ({blocked}),
f AS MATERIALIZED (
    SELECT ev.ord, ev.id, ev.recipient_id, ev.kind, ev.target_type, ev.target_id,
        ARRAY(SELECT u.a FROM unnest(ev.actor_ids) WITH ORDINALITY AS u(a, n)
              WHERE NOT EXISTS (SELECT 1 FROM blocked b WHERE b.blocker = ev.recipient_id AND b.blocked = u.a)
              ORDER BY u.n) AS actor_ids,
        cardinality(ev.actor_ids) AS sent_actors, ev.title, ev.body, ev.target_url, ev.data,
        ev.requires_action, ev.in_app_default, ev.in_app_locked
    FROM ev
),
ok AS (
    SELECT f.*, rc.network_id FROM f JOIN rc ON rc.id = f.recipient_id
    WHERE (f.sent_actors = 0 OR cardinality(f.actor_ids) > 0)
        AND (f.in_app_locked OR COALESCE((rc.choices -> f.kind ->> 'in_app')::boolean, f.in_app_default))
),
prev AS (
    SELECT i.id, (i.read_at IS NULL AND (i.snoozed_until IS NULL OR i.snoozed_until <= p.now)) AS counted
    FROM {item} i JOIN ok ON i.network_id = ok.network_id AND i.recipient_id = ok.recipient_id
        AND i.kind = ok.kind AND i.target_type = ok.target_type AND i.target_id = ok.target_id, p
    WHERE i.archived_at IS NULL
),
up AS (
    INSERT INTO {item} AS i (id, created_at, updated_at, network_id, recipient_id, kind, actor_id, actor_count,
        actor_ids, target_type, target_id, title, body, target_url, data, requires_action, action_state,
        last_event_at)
    SELECT ok.id, p.now, p.now, ok.network_id, ok.recipient_id, ok.kind, ok.actor_ids[1],
        GREATEST(cardinality(ok.actor_ids), 1), ok.actor_ids[1:{kept}],
        ok.target_type, ok.target_id, ok.title, ok.body, ok.target_url, ok.data, ok.requires_action,
        CASE WHEN ok.requires_action THEN 'pending' END, p.now
    FROM ok, p
    ORDER BY ok.recipient_id, ok.kind, ok.target_type, ok.target_id
    ON CONFLICT (network_id, recipient_id, kind, target_type, target_id) WHERE archived_at IS NULL
    DO UPDATE SET
        actor_id = COALESCE(EXCLUDED.actor_id, i.actor_id),
        actor_count = i.actor_count + CASE WHEN EXCLUDED.actor_id IS NULL THEN 0
            ELSE EXCLUDED.actor_count - cardinality(ARRAY(
                SELECT unnest(EXCLUDED.actor_ids) INTERSECT SELECT unnest(i.actor_ids))) END,
        actor_ids = CASE WHEN EXCLUDED.actor_id IS NULL THEN i.actor_ids
            ELSE (EXCLUDED.actor_ids || ARRAY(
                SELECT t.x FROM unnest(i.actor_ids) WITH ORDINALITY AS t(x, n)
                WHERE t.x <> ALL(EXCLUDED.actor_ids) ORDER BY t.n))[1:{kept}] END,
        title = EXCLUDED.title,
        body = EXCLUDED.body,
        target_url = CASE WHEN EXCLUDED.target_url = '' THEN i.target_url ELSE EXCLUDED.target_url END,
        data = i.data || EXCLUDED.data,
        read_at = NULL,
        snoozed_until = NULL,
        requires_action = i.requires_action OR EXCLUDED.requires_action,
        action_state = CASE WHEN EXCLUDED.requires_action THEN 'pending' ELSE i.action_state END,
        last_event_at = EXCLUDED.last_event_at,
        updated_at = EXCLUDED.updated_at
    RETURNING {returning}
)
SELECT up.*, prev.counted, rc.email, rc.is_active, rc.choices, rc.timezone, rc.quiet_start, rc.quiet_end,
    rc.email_digest
FROM up JOIN rc ON rc.id = up.recipient_id LEFT JOIN prev ON prev.id = up.id
"""

#: the item's columns as the statement returns them (read by position, see ``Delivered``)
_ITEM_COLUMNS = (
    "id", "recipient_id", "kind", "actor_id", "actor_count", "actor_ids", "target_type", "target_id", "title",
    "body", "target_url", "data", "read_at", "archived_at", "snoozed_until", "requires_action", "action_state",
    "last_event_at", "created_at", "network_id",
)  # fmt: skip
#: then whether it was inserted; the final SELECT adds the prior state and the recipient's settings
_RETURNING = ", ".join(f"i.{c}" for c in _ITEM_COLUMNS) + ", (i.xmax = 0) AS inserted"
_N_ITEM = len(_ITEM_COLUMNS)


@functools.cache
def _statement(one: bool) -> str:
    """The upsert's text, built once per process (identifiers from model metadata), whitespace collapsed."""
    from .models import ACTOR_IDS_KEPT

    sql = _UPSERT.format(
        ev=_EV_ONE if one else _EV_MANY, kept=ACTOR_IDS_KEPT, returning=_RETURNING, **_tables()
    )
    return " ".join(sql.split())


#: events per statement (bounds the statement's memory and lock set)
_CHUNK = 2000


class Delivered:
    """One written row: its ids and prior state at once; the item and the recipient's settings built
    only when something needs them (a notice, a live socket). A repeat of an item still unread for a
    recipient without a socket (every reaction of a storm but the first) builds neither."""

    __slots__ = ("_item", "_recipient", "became_unread", "event", "item_id", "now", "recipient_id", "row")

    def __init__(self, row: tuple, event: _Merged, now: datetime) -> None:
        self.row = row
        self.event = event
        self.now = now
        self.item_id = row[0]
        self.recipient_id = row[1]
        inserted, counted = row[_N_ITEM], row[_N_ITEM + 1]
        # counted before: a prior unread row; none but not inserted = inserted concurrently (unread)
        self.became_unread = not (counted if counted is not None else not inserted)
        self._item: InboxItem | None = None
        self._recipient: Recipient | None = None

    @property
    def item(self) -> InboxItem:
        if self._item is None:
            values = dict(zip(_ITEM_COLUMNS, self.row, strict=False))
            data = values["data"]
            values["data"] = json.loads(data) if isinstance(data, str) else data
            values["actor_ids"] = list(values["actor_ids"] or [])
            self._item = InboxItem(**values, updated_at=self.now)
        return self._item

    @property
    def recipient(self) -> Recipient:
        if self._recipient is None:
            email, is_active, choices, tz, quiet_start, quiet_end, digest = self.row[_N_ITEM + 2 :]
            self._recipient = Recipient(
                id=self.recipient_id,
                network_id=self.row[_N_ITEM - 1],
                email=email,
                is_active=is_active,
                choices=(json.loads(choices) if isinstance(choices, str) else choices) or {},
                timezone=tz or "UTC",
                quiet_start=quiet_start,
                quiet_end=quiet_end,
                email_digest=digest or "daily",
            )
        return self._recipient


#: kind → (in-app default, in-app locked): the statement's per-event flags
_IN_APP = {
    kind: (rules.default_channels(kind)["in_app"], "in_app" in rules.LOCKED.get(kind, ()))
    for kind in InboxItem.Kind.values
}


def _event_row(ord_: int, merged: _Merged) -> tuple:
    ev = merged.last
    in_app_default, in_app_locked = _IN_APP[ev.kind]
    return (
        ord_, uuid7(), ev.recipient_id, ev.kind, ev.target_type, ev.target_id,
        "{" + ",".join(str(a) for a in merged.actor_ids) + "}", ev.title, ev.body, merged.target_url,
        ev.data if merged.data is None else json.dumps(merged.data, separators=(",", ":")),
        merged.requires_action, in_app_default, in_app_locked,
    )  # fmt: skip


def _upsert(events: list[_Merged], now: datetime) -> list[Delivered]:
    one = len(events) == 1
    if one:  # 14 scalars (the statement's ``ord`` is the constant 0)
        params: list[Any] = [now, *_event_row(0, events[0])[1:]]
    else:  # one array per column (the 14 of _EV_MANY)
        rows = [_event_row(ord_, merged) for ord_, merged in enumerate(events)]
        params = [now, *(list(column) for column in zip(*rows, strict=True))]
    by_key = {ev.key: ev for ev in events}
    with statement_cursor(prepared=one) as cursor:
        cursor.execute(_statement(one), params)
        fetched = cursor.fetchall()
    out: list[Delivered] = []
    for row in fetched:
        # by position: id, recipient_id, kind, …, target_type, target_id (see _ITEM_COLUMNS)
        event = by_key[(row[1], row[2], row[6], row[7])]
        out.append(Delivered(row, event, now))
    return out


def _notice(d: Delivered) -> Notice:
    item = d.item
    stamp = int(item.last_event_at.timestamp() * 1_000_000)
    return Notice(
        recipient_id=item.recipient_id,
        kind=item.kind,
        title=item.title,
        body=item.body,
        data={
            "url": item.target_url,
            "inbox_item_id": str(item.pk),
            "target_type": item.target_type,
            "target_id": str(item.target_id),
        },
        dedupe_key=f"inbox:{item.pk}:{stamp}",
        inbox_item_id=item.pk,
        skip_channels=d.event.last.skip_channels,
    )


@dataclass(slots=True)
class Close:
    kind: str
    target_type: str
    target_id: Any
    state: str


def flush_batch(items: list[Event | Close]) -> None:
    """A transaction's deliveries and closes, in call order (runs once it has committed)."""
    segment: list[Event] = []
    for entry in items:
        if isinstance(entry, Event):
            segment.append(entry)
            continue
        if segment:
            deliver_events(segment)
            segment = []
        close_events(entry)
    if segment:
        deliver_events(segment)


def close_events(close: Close) -> None:

    now = timezone.now()
    with transaction.atomic():
        pending = InboxItem.objects.filter(
            kind=close.kind,
            target_type=close.target_type,
            target_id=close.target_id,
            requires_action=True,
            action_state=InboxItem.ActionState.PENDING,
        )
        items = list(pending.select_for_update(of=("self",)).select_related("actor"))
        if not items:
            return
        InboxItem.objects.filter(pk__in=[i.pk for i in items]).update(
            action_state=close.state, updated_at=now
        )
        for item in items:
            item.action_state = close.state
            item.updated_at = now

        def after_commit() -> None:
            broadcast_items([(i, i.actor) for i in items])

        transaction.on_commit(after_commit, robust=True)


def deliver_events(events: list[Event]) -> None:
    now = timezone.now()
    latest: dict[Any, Delivered] = {}
    notices: list[Notice] = []
    recipients: dict[Any, Recipient] = {}
    changed: set[Any] = set()
    merged = _merge(events)
    # who has a live socket: asked before the statement, answered while PostgreSQL runs it
    presence = ConnectedAhead({m.last.recipient_id for m in merged})
    try:
        # no transaction of its own: each statement commits by itself (one round trip for a repeat);
        # the flush is after-commit work already, and a crash between them loses only this delivery
        for start in range(0, len(merged), _CHUNK):
            for d in _upsert(merged[start : start + _CHUNK], now):
                latest[d.item_id] = d
                if d.became_unread:  # a repeat of an item still unread leaves the count alone
                    changed.add(d.recipient_id)
                    if d.event.notify:
                        recipients[d.recipient_id] = d.recipient
                        notices.append(_notice(d))
    except BaseException:
        presence.close()
        raise
    online = presence.result()
    after_notify = dispatch(notices, recipients=recipients, now=now) if notices else None
    delivered = list(latest.values())

    def after_commit() -> None:
        from .selectors import unread_changed

        unread_changed(changed)
        _broadcast_delivered(delivered, online)
        if after_notify is not None:
            after_notify()

    transaction.on_commit(after_commit, robust=True)


def _broadcast_delivered(delivered: list[Delivered], online: set[str]) -> None:
    """``broadcast_items`` of the recipients with a live socket (``online``: presence read alongside
    the statement), so a recipient without one costs no extra round trip and no item is built."""
    if delivered and online:
        live = [(d.item, d.event.actor) for d in delivered if str(d.recipient_id) in online]
        broadcast_items(live, online=online)


def broadcast_items(items: list[tuple[InboxItem, Any]], *, online: set[str] | None = None) -> None:
    """``inbox.item`` to each recipient with a live socket (actors and unread counts only for those:
    ``selectors.cached_unread_counts``, run after the change committed and the counts were invalidated).

    ``online``: the recipients (as strings) the caller just found with a live socket (presence not read again).
    """
    from apps.accounts.models import User
    from apps.accounts.services import user_group
    from apps.realtime.presence import connected_user_ids
    from apps.realtime.services import broadcast_many

    from .payloads import inbox_event
    from .selectors import cached_unread_counts

    if not items:
        return
    if online is None:
        online = connected_user_ids({item.recipient_id for item, _ in items})
    items = [(item, actor) for item, actor in items if str(item.recipient_id) in online]
    if not items:
        return
    unread = cached_unread_counts([item.recipient_id for item, _ in items])
    missing = {
        item.actor_id
        for item, actor in items
        if item.actor_id and getattr(actor, "pk", None) != item.actor_id
    }
    actors = {u.pk: u for u in User.objects.filter(pk__in=missing)} if missing else {}
    messages = []
    for item, actor in items:
        if item.actor_id is None:
            item.actor = None
        else:
            item.actor = actor if getattr(actor, "pk", None) == item.actor_id else actors.get(item.actor_id)
        messages.append(
            (user_group(item.recipient_id), inbox_event(item, unread_count=unread.get(item.recipient_id, 0)))
        )
    broadcast_many(messages)
