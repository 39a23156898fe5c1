"""``usage.Meter``: warm API-key requests charged in process, settled with Redis in batches.

The limit stays global — several processes (meters) sharing one key never
admit more than the limit between them; a busy key costs a round trip per
claim, not per request; the counts reach Redis on their own within a second.
"""

from __future__ import annotations

import uuid

import pytest
import redis.connection

from apps.apikeys import usage
from apps.core.ratelimit import peek
from apps.core.redis import get_redis
from tests.live import wait_for


@pytest.fixture
def key_id() -> str:
    return str(uuid.uuid4())


def test_processes_sharing_a_key_never_admit_more_than_the_limit(settings, key_id):
    settings.API_KEY_RATE_LIMIT_PER_MINUTE = 25
    meters = [usage.Meter() for _ in range(3)]  # three web processes
    admitted = sum(meters[i % 3].admit(key_id).allowed for i in range(90))
    assert admitted == 25
    # the count holds every token claimed; claims past the limit grant nothing
    assert peek(usage.rate_bucket(key_id), usage.key_rate()) >= 25


def test_a_quiet_key_is_counted_exactly(settings, key_id):
    settings.API_KEY_RATE_LIMIT_PER_MINUTE = 600
    meter = usage.Meter()
    meter.admit(key_id)
    assert peek(usage.rate_bucket(key_id), usage.key_rate()) == 1  # first claim: one token


def test_a_busy_key_costs_a_round_trip_per_claim_not_per_request(settings, key_id):
    settings.API_KEY_RATE_LIMIT_PER_MINUTE = 10**6
    meter = usage.Meter()
    meter.admit(key_id)  # starts the flusher; its own round trips are on its thread
    sends: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        import threading

        if threading.current_thread() is threading.main_thread():
            sends.append(1)
        return original(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counting
    try:
        assert all(meter.admit(key_id).allowed for _ in range(1000))
    finally:
        redis.connection.AbstractConnection.send_packed_command = original
    assert len(sends) <= 12, len(sends)  # claims of 1, 2, 4, … tokens


def test_usage_reaches_redis_on_its_own_within_a_second(key_id):
    meter = usage.Meter()
    for _ in range(5):
        meter.admit(key_id)
    hour_hash = usage.hour_key(usage.current_hour())
    # read the hash directly (``usage.pending`` would flush this process itself)
    wait_for(lambda: int(get_redis().hget(hour_hash, f"{key_id}:r") or 0) == 5, timeout=5, message="flush")
    assert str(usage.current_hour()) in get_redis().smembers(usage.HOURS)


def test_refused_requests_are_counted_as_throttled(settings, key_id):
    settings.API_KEY_RATE_LIMIT_PER_MINUTE = 2
    meter = usage.Meter()
    results = [meter.admit(key_id) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, False, False, False]
    assert all(1 <= r.retry_after <= 60 for r in results)
    meter.flush()
    counts = get_redis().hgetall(usage.hour_key(usage.current_hour()))
    assert counts[f"{key_id}:r"] == "5" and counts[f"{key_id}:t"] == "3"


def test_last_used_is_due_once_a_minute_per_key_across_processes(key_id):
    first, second = usage.Meter(), usage.Meter()
    assert first.admit(key_id).touch_last_used
    assert not first.admit(key_id).touch_last_used  # this process: not again within the minute
    assert not second.admit(key_id).touch_last_used  # another process: Redis's guard says no
