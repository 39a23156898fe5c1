"""Batched on-commit work: many calls in one transaction, one flush after it commits.

``on_commit_batch(flush, item)`` queues ``item``. Once the outermost
transaction commits, ``flush(items)`` runs once with every queued item whose
savepoint was not rolled back, in call order; a rolled-back transaction runs
nothing. Outside a transaction ``flush([item])`` runs at once. Delivery fan-out
(inbox, notifications) uses it so that a mention of 1,000 members is one
INSERT and one round of broadcasts, not 1,000.

How: each distinct savepoint stack gets one *marker* registered with
``transaction.on_commit`` (so Django discards it with its savepoint), and the
batch's *runner* is kept as the last on-commit callback, registered outside
every savepoint (like ``on_commit`` outside a savepoint does). The runner
flushes the items whose marker ran. The runner is robust: a failing flush is
logged and never breaks the committed caller (``captureOnCommitCallbacks``
in tests still raises).
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


class _Batch:
    __slots__ = ("commit_list", "done", "entries", "flush", "generation", "last_runner", "markers")

    def __init__(self, flush: Callable[[list[Any]], None], commit_list: list) -> None:
        self.flush = flush
        self.entries: list[tuple[_Marker | None, Any]] = []
        self.markers: dict[frozenset[str], _Marker] = {}
        self.generation = 0
        self.last_runner: Callable[[], None] | None = None
        self.commit_list = commit_list
        self.done = False

    def runner(self) -> Callable[[], None]:
        self.generation += 1
        generation = self.generation

        def run() -> None:
            if generation != self.generation or self.done:
                return  # a newer runner of this batch comes later
            self.done = True
            items = [item for marker, item in self.entries if marker is None or marker.ran]
            self.entries = []
            if items:
                self.flush(items)

        run.__qualname__ = f"on_commit_batch({getattr(self.flush, '__qualname__', 'flush')})"
        return run


def _live_batch(connection: Any, flush: Callable[[list[Any]], None]) -> _Batch:
    batches: dict[Any, _Batch] = connection.__dict__.setdefault(_ATTR, {})
    batch = batches.get(flush)
    if batch is not None and not batch.done:
        if batch.commit_list is connection.run_on_commit:
            return batch
        # Django replaced the list: a savepoint rollback (our runner is still in it)
        # or a full rollback (it is not: the batch is stale)
        if any(func is batch.last_runner for _, func, _ in connection.run_on_commit):
            batch.commit_list = connection.run_on_commit
            return batch
    batch = _Batch(flush, connection.run_on_commit)
    batches[flush] = batch
    return batch


def on_commit_batch(flush: Callable[[list[Any]], None], item: Any, *, using: str | None = None) -> None:
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        flush([item])
        return
    batch = _live_batch(connection, flush)
    marker = None
    if connection.savepoint_ids:
        key = frozenset(connection.savepoint_ids)
        marker = batch.markers.get(key)
        if marker is None:
            marker = batch.markers[key] = _Marker()
            connection.on_commit(marker)
    batch.entries.append((marker, item))
    hooks = connection.run_on_commit
    if not hooks or hooks[-1][1] is not batch.last_runner:
        batch.last_runner = batch.runner()
        # outside every savepoint, last in line: what on_commit() records outside a savepoint
        hooks.append((set(), batch.last_runner, True))
