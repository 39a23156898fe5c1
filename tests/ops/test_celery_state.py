"""Eager tasks in several threads of one process leave no Celery state behind.

Celery's ``denied_join_result`` (around every eager ``.delay()``) saves and
restores one process-wide flag; two calls overlapping in two threads (a test
and its live server's request thread) used to leave it set, and every later
``.delay().get()`` in that pytest worker raised "Never call result.get()
within a task!". ``config.celery`` restores it when the last call leaves.
"""

from __future__ import annotations

import threading

import pytest
from celery import _state

from tests.testapp import tasks


@pytest.fixture
def gates():
    made: list[str] = []

    def gate(token: str) -> tuple[threading.Event, threading.Event]:
        tasks.gates[token] = (threading.Event(), threading.Event())
        made.append(token)
        return tasks.gates[token]

    yield gate
    for token in made:
        tasks.gates.pop(token, None)


def test_eager_tasks_overlapping_in_two_threads_leave_result_get_usable(gates, settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    (first_in, first_open), (second_in, second_open) = gates("first"), gates("second")
    results: dict[str, object] = {}

    def run(token: str) -> None:
        results[token] = tasks.wait_at_gate.delay(token).result  # get() refuses while the other is inside

    first = threading.Thread(target=run, args=("first",))
    second = threading.Thread(target=run, args=("second",))
    first.start()
    assert first_in.wait(10)
    second.start()
    assert second_in.wait(10)
    assert _state.task_join_will_block()  # inside a task: get() is refused, as Celery means it
    first_open.set()  # the first one in leaves first: the order that used to leave the flag set
    first.join(10)
    second_open.set()
    second.join(10)

    assert results == {"first": "first", "second": "second"}
    assert not _state.task_join_will_block()
    gates("third")[1].set()
    assert tasks.wait_at_gate.delay("third").get() == "third"
