"""on_commit_batch: one flush per committed transaction, savepoint rollbacks respected."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.core.oncommit import on_commit_batch

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    def __init__(self) -> None:
        self.flushes: list[list] = []

    def __call__(self, items: list) -> None:
        self.flushes.append(list(items))


def test_outside_a_transaction_flushes_at_once():
    flush = Recorder()
    on_commit_batch(flush, 1)
    on_commit_batch(flush, 2)
    assert flush.flushes == [[1], [2]]


def test_many_calls_in_one_transaction_flush_once_after_commit_in_order():
    flush = Recorder()
    with transaction.atomic():
        for n in range(100):
            on_commit_batch(flush, n)
        transaction.on_commit(lambda: on_commit_batch(flush, "later"))
        assert flush.flushes == []
    assert flush.flushes == [list(range(100)), ["later"]]


def test_a_rolled_back_transaction_flushes_nothing_and_the_next_one_starts_fresh():
    flush = Recorder()
    with pytest.raises(RuntimeError), transaction.atomic():
        on_commit_batch(flush, "lost")
        raise RuntimeError
    with transaction.atomic():
        on_commit_batch(flush, "kept")
    assert flush.flushes == [["kept"]]


def test_items_of_a_rolled_back_savepoint_are_dropped():
    flush = Recorder()
    with transaction.atomic():
        on_commit_batch(flush, "before")
        with pytest.raises(RuntimeError), transaction.atomic():
            on_commit_batch(flush, "inside")
            with transaction.atomic():
                on_commit_batch(flush, "nested")
            raise RuntimeError
        with transaction.atomic():
            on_commit_batch(flush, "released savepoint")
        on_commit_batch(flush, "after")
    assert flush.flushes == [["before", "released savepoint", "after"]]


def test_a_batch_started_inside_a_rolled_back_savepoint_still_flushes_later_items():
    flush = Recorder()
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            on_commit_batch(flush, "inside")
            raise RuntimeError
        on_commit_batch(flush, "after")
    assert flush.flushes == [["after"]]


def test_a_failing_flush_does_not_break_the_committed_caller(caplog):
    def broken(items):
        raise ValueError("boom")

    after = []
    with transaction.atomic():
        on_commit_batch(broken, 1)
        transaction.on_commit(lambda: after.append("ran"))
    # the runner is last and robust: logged, never raised into the caller
    assert "boom" in caplog.text
    assert after == ["ran"]
