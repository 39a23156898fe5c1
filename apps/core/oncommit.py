"""Batched on-commit work: many calls in one transaction, one flush after it commits.

``on_commit_batch(flush, item)`` queues ``item``; after the transaction
commits, ``flush(items)`` runs with the queued items whose savepoint was not
rolled back, in call order. A rolled-back transaction runs nothing; outside
a transaction ``flush([item])`` runs at once. Delivery fan-out (inbox,
notifications) uses it so that a mention of 1,000 members is one INSERT and
one round of broadcasts, not 1,000.

How: consecutive calls form a *segment* whose *runner* is the last
on-commit callback, registered outside every savepoint (what ``on_commit``
records outside a savepoint); a call made after some other callback was
registered starts a new segment, so a flush runs where a plain
``on_commit(lambda: flush([item]))`` of its first item would have, and
``captureOnCommitCallbacks`` in tests sees it exactly like one. Each
savepoint stack a segment's items were queued in has one *marker*
registered with ``transaction.on_commit`` before the runner (Django drops it
with its savepoint); the runner flushes only items whose marker ran. The
runner is robust: a failing flush is logged and never breaks the committed
caller (``captureOnCommitCallbacks`` still raises).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

_ATTR = "_colony_commit_batches"


class _Marker:
    __slots__ = ("ran",)

    def __init__(self) -> None:
        self.ran = False

    def __call__(self) -> None:
        self.ran = True


class _Segment:
    __slots__ = ("done", "entries", "flush", "markers", "run")

    def __init__(self, flush: Callable[[list[Any]], None], markers: dict[frozenset[str], _Marker]) -> None:
        self.flush = flush
        self.entries: list[tuple[_Marker | None, Any]] = []
        self.markers = markers
        self.done = False

        def run() -> None:
            if self.done:
                return
            self.done = True
            items = [item for marker, item in self.entries if marker is None or marker.ran]
            self.entries = []
            if items:
                self.flush(items)

        run.__qualname__ = f"on_commit_batch({getattr(flush, '__qualname__', 'flush')})"
        self.run = run


def on_commit_batch(flush: Callable[[list[Any]], None], item: Any, *, using: str | None = None) -> None:
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        flush([item])
        return
    segments: dict[Any, _Segment] = connection.__dict__.setdefault(_ATTR, {})
    segment = segments.get(flush)
    hooks = connection.run_on_commit
    current = segment is not None and not segment.done and bool(hooks) and hooks[-1][1] is segment.run
    marker = None
    if connection.savepoint_ids:
        key = frozenset(connection.savepoint_ids)
        marker = segment.markers.get(key) if current else None
        if marker is None:
            marker = _Marker()
            connection.on_commit(marker)  # discarded by Django if a savepoint in ``key`` rolls back
            markers = {key: marker}
            current = False  # the runner must come after the new marker
    else:
        markers = {}
    if not current:
        segment = _Segment(flush, markers)
        segments[flush] = segment
        hooks = connection.run_on_commit
        hooks.append((set(), segment.run, True))
    segment.entries.append((marker, item))


def start_new_batches(using: str | None = None) -> None:
    """Calls after this start new segments (test helpers: a ``captureOnCommitCallbacks`` boundary)."""
    connection = transaction.get_connection(using)
    connection.__dict__.pop(_ATTR, None)
