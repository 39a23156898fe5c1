"""Usage counting on Redis (no SQL write per request) and the idempotent rollup."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import DataError, connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.apikeys import services, tasks, usage
from apps.apikeys.models import ApiKey, ApiKeyUsage
from apps.core.redis import get_redis, key
from tests.live import wait_for

from .factories import bearer, issue_key

ME = "/api/v1/me/"


def _write_statements(captured) -> list[str]:
    return [
        q["sql"] for q in captured if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


@pytest.mark.django_db
def test_authenticated_request_does_no_sql_write(user, django_assert_num_queries):
    issued = issue_key(user, scopes=["profile:read"])
    client = APIClient()
    client.get(ME, **bearer(issued.token))  # first use: caches warm, last_used_at written once
    with django_assert_num_queries(0) as ctx:  # warm: key and user come from Redis
        response = client.get(ME, **bearer(issued.token))
    assert response.status_code == 200
    assert _write_statements(ctx.captured_queries) == []
    assert usage.pending(issued.api_key.pk) == {"r": 2, "e": 0, "t": 0}


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute(user, django_assert_max_num_queries):
    issued = issue_key(user, scopes=["profile:read"])
    client = APIClient()
    client.get(ME, REMOTE_ADDR="127.0.0.2", **bearer(issued.token))
    first = ApiKey.objects.get(pk=issued.api_key.pk)
    assert first.last_used_at is not None and first.last_used_ip == "127.0.0.2"
    for _ in range(3):
        with django_assert_max_num_queries(1) as ctx:
            client.get(ME, REMOTE_ADDR="127.0.0.3", **bearer(issued.token))
        assert _write_statements(ctx.captured_queries) == []
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_ip == "127.0.0.2"
    get_redis().delete(key("apikeys", "last-used", issued.api_key.pk))  # the minute passed ...
    usage.meter.reset(issued.api_key.pk)  # ... for this process's throttle too
    client.get(ME, REMOTE_ADDR="127.0.0.3", **bearer(issued.token))
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_ip == "127.0.0.3"


@pytest.mark.django_db
def test_error_responses_are_counted(user):
    issued = issue_key(user, scopes=["profile:read", "users:read"])
    client = APIClient()
    client.get(ME, **bearer(issued.token))  # 200
    client.patch(ME, {"display_name": "x"}, format="json", **bearer(issued.token))  # 403 scope
    client.get("/api/v1/users/00000000-0000-0000-0000-000000000000/", **bearer(issued.token))  # 404
    assert usage.pending(issued.api_key.pk) == {"r": 3, "e": 2, "t": 0}


@pytest.mark.django_db
def test_rollup_moves_counts_and_running_twice_does_not_double(user):
    issued = issue_key(user, scopes=["profile:read"])
    client = APIClient()
    for _ in range(3):
        client.get(ME, **bearer(issued.token))
    client.patch(ME, {}, format="json", **bearer(issued.token))  # 403
    assert services.rollup_usage() == 1
    assert services.rollup_usage() == 0
    row = ApiKeyUsage.objects.get(api_key=issued.api_key)
    assert (row.request_count, row.error_count, row.throttled_count) == (4, 1, 0)
    assert row.network_id == user.network_id
    assert row.hour_at == timezone.now().replace(minute=0, second=0, microsecond=0)
    client.get(ME, **bearer(issued.token))
    services.rollup_usage()
    row.refresh_from_db()
    assert row.request_count == 5
    assert usage.pending(issued.api_key.pk) == {"r": 0, "e": 0, "t": 0}


@pytest.mark.django_db
def test_rollup_keeps_hours_apart(user):
    api_key = issue_key(user).api_key
    now_hour = usage.current_hour()
    usage._incr(api_key.pk, now_hour - 3 * 3600, "r")
    usage._incr(api_key.pk, now_hour, "r")
    usage._incr(api_key.pk, now_hour, "r")
    services.rollup_usage()
    counts = dict(ApiKeyUsage.objects.values_list("hour_at", "request_count"))
    assert sorted(counts.values()) == [1, 2]


@pytest.mark.django_db
def test_failed_write_puts_the_counts_back(user):
    api_key = issue_key(user).api_key
    hour = usage.current_hour()
    usage._incr(api_key.pk, hour, "r")
    get_redis().hincrby(usage.hour_key(hour), f"{api_key.pk}:e", 2**31)  # overflows int4
    with pytest.raises(DataError):
        services.rollup_usage()
    assert usage.pending(api_key.pk) == {"r": 1, "e": 2**31, "t": 0}
    get_redis().hset(usage.hour_key(hour), f"{api_key.pk}:e", 1)
    services.rollup_usage()
    row = ApiKeyUsage.objects.get(api_key=api_key)
    assert (row.request_count, row.error_count) == (1, 1)


@pytest.mark.django_db
def test_counts_of_deleted_keys_are_dropped(user):
    api_key = issue_key(user).api_key
    usage._incr(api_key.pk, usage.current_hour(), "r")
    usage._incr("not-a-uuid", usage.current_hour(), "r")
    ApiKey.objects.filter(pk=api_key.pk).delete()
    services.rollup_usage()
    assert not ApiKeyUsage.objects.exists()


@pytest.mark.django_db
def test_purge_drops_rows_older_than_13_months(user):
    api_key = issue_key(user).api_key
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for age in (timedelta(days=10), timedelta(days=400)):
        ApiKeyUsage.objects.create(network=user.network, api_key=api_key, hour_at=now - age, request_count=1)
    assert services.purge_usage() == 1
    assert ApiKeyUsage.objects.count() == 1


def _lock_waiters() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_rollups_add_up_without_double_counting(user):
    """Rollup A holds its upsert open; B drains newer counts and waits on the row; both land once."""
    api_key = issue_key(user).api_key
    hour = usage.current_hour()
    for _ in range(5):
        usage._incr(api_key.pk, hour, "r")
    a_done_upsert = threading.Event()
    release_a = threading.Event()
    errors: list[BaseException] = []

    def rollup_a():
        try:
            with transaction.atomic():
                services.rollup_usage()
                a_done_upsert.set()
                release_a.wait(15)
        except BaseException as exc:  # noqa: BLE001 — reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def rollup_b():
        try:
            services.rollup_usage()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    thread_a = threading.Thread(target=rollup_a)
    thread_a.start()
    assert a_done_upsert.wait(15)
    for _ in range(3):
        usage._incr(api_key.pk, hour, "r")
    thread_b = threading.Thread(target=rollup_b)
    thread_b.start()
    wait_for(lambda: _lock_waiters() >= 1, message="rollup B to wait on A's row")
    release_a.set()
    thread_a.join(15)
    thread_b.join(15)
    assert not errors
    assert ApiKeyUsage.objects.get(api_key=api_key).request_count == 8
    assert services.rollup_usage() == 0


@pytest.mark.django_db(transaction=True)
def test_racing_rollups_split_the_counts(user):
    api_key = issue_key(user).api_key
    hour = usage.current_hour()
    pipe = get_redis().pipeline()
    for i in range(200):
        pipe.hincrby(usage.hour_key(hour - (i % 4) * 3600), f"{api_key.pk}:r", 1)
    for i in range(4):
        pipe.sadd(usage.HOURS, hour - i * 3600)
    pipe.execute()
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait(10)
            services.rollup_usage()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    rows = ApiKeyUsage.objects.filter(api_key=api_key)
    assert rows.count() == 4
    assert sum(rows.values_list("request_count", flat=True)) == 200


@pytest.mark.live
def test_rollup_runs_on_a_real_worker_and_is_idempotent(celery_worker_process, user):
    issued = issue_key(user, scopes=["profile:read"])
    client = APIClient()
    for _ in range(4):
        assert client.get(ME, **bearer(issued.token)).status_code == 200
    usage.meter.flush()  # what this (web) process's flusher does within a second
    assert tasks.rollup_usage.delay().get(timeout=30) == 1
    assert tasks.rollup_usage.delay().get(timeout=30) == 0
    row = ApiKeyUsage.objects.get(api_key=issued.api_key)
    assert row.request_count == 4
    client.get(ME, **bearer(issued.token))
    usage.meter.flush()
    first, second = tasks.rollup_usage.delay(), tasks.rollup_usage.delay()
    first.get(timeout=30), second.get(timeout=30)
    row.refresh_from_db()
    assert row.request_count == 5
