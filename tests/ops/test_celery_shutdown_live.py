"""Beat and the worker stop on SIGTERM without a traceback during start-up.

The moments come from each process's own log. Beat is signalled the instant
it starts writing its schedule to the database, where Celery's stock handler
produced "Cannot open a new connection in an atomic block" and a beat that
never exited. (Stopping a running platform quietly is covered by the
launcher's test, which checks the whole output for tracebacks.)
"""

from __future__ import annotations

import signal

import pytest
from django_celery_beat.models import PeriodicTask

from tests.ops import processes

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]

QUIET_EXITS = {0, -signal.SIGTERM}  # a clean stop, or ended by SIGTERM before Celery's handlers exist


def _assert_quiet(process: processes.Process, code: int) -> None:
    assert code in QUIET_EXITS, process.output
    assert "Traceback" not in process.output, process.output
    assert "atomic block" not in process.output, process.output


@pytest.mark.django_db(transaction=True)
def test_beat_stops_cleanly_when_signalled_while_writing_its_schedule():
    assert not PeriodicTask.objects.exists()  # the schedule is written from scratch at start-up
    beat = processes.celery_beat()
    beat.wait_for_line("beat: Starting...")
    code = beat.stop(timeout=20)
    _assert_quiet(beat, code)
    assert code == 0
    assert "beat: Starting..." in beat.output


@pytest.mark.django_db(transaction=True)  # whatever the process committed is flushed after
def test_beat_stops_quietly_when_signalled_before_django_is_set_up():
    beat = processes.celery_beat()
    beat.wait_for_line("celery beat v")
    _assert_quiet(beat, beat.stop(timeout=20))


@pytest.mark.django_db(transaction=True)  # whatever the process committed is flushed after
def test_worker_stops_cleanly_when_signalled_while_connecting():
    worker = processes.celery_worker("ops-stop", pool="prefork", concurrency=2)
    worker.wait_for_line("Connected to redis")
    code = worker.stop(timeout=30)
    _assert_quiet(worker, code)
    assert code == 0
