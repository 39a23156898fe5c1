"""A real Celery worker process on Redis runs tasks the test enqueues."""

import time

import pytest

from apps.core import tasks
from apps.core.redis import get_redis

pytestmark = [pytest.mark.live]


def test_worker_runs_enqueued_task(celery_worker_process):
    result = tasks.echo.delay("hello from the test")
    assert result.get(timeout=20) == "hello from the test"


def test_heartbeat_on_worker_records_last_beat(celery_worker_process):
    before = time.time()
    tasks.heartbeat.delay()
    from tests.live import wait_for

    value = wait_for(lambda: get_redis().get(tasks.HEARTBEAT_KEY), timeout=20, message="heartbeat")
    assert float(value) >= before - 1
