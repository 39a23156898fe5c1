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
    # each savepoint level starts a segment; the rolled-back one's items are gone
    assert [item for batch in flush.flushes for item in batch] == ["before", "released savepoint", "after"]


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


def test_a_foreign_callback_in_between_starts_a_new_segment_in_call_order():
    flush = Recorder()
    order = []
    with transaction.atomic():
        on_commit_batch(flush, 1)
        on_commit_batch(flush, 2)
        transaction.on_commit(lambda: order.append(("other", list(flush.flushes))))
        on_commit_batch(flush, 3)
    assert flush.flushes == [[1, 2], [3]]
    assert order == [("other", [[1, 2]])]  # where plain on_commit callbacks would have run


@pytest.mark.django_db(transaction=False)
def test_capture_in_tests_flushes_only_what_was_queued_inside_it(django_capture_on_commit_callbacks):
    flush = Recorder()
    on_commit_batch(flush, "before the block")  # like a plain on_commit outside a capture: never run
    with django_capture_on_commit_callbacks(execute=True):
        on_commit_batch(flush, "inside")
        on_commit_batch(flush, "inside too")
    assert flush.flushes == [["inside", "inside too"]]
