"""The near cache (``apps.core.nearcache``): process-local copies that Redis itself keeps true.

Every change to a tracked key — by any client, a TTL or a flush — drops the
copy before anything the writer does next can reach us; a value read before
a racing write is never kept; with the tracking connection down nothing is
served from copies; copies expire and the table is bounded.
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from apps.core.nearcache import ABSENT, near
from tests.live import wait_for

PREFIX = f"{settings.REDIS_KEY_PREFIX}:test:near:"


@pytest.fixture
def tracked():
    near.track(PREFIX)
    wait_for(lambda: near.begin() is not None, timeout=10, message="near cache tracking")
    near.clear()
    return near


@pytest.fixture
def other_client():
    """A client of its own (not our pool): the invalidation does not depend on who writes."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def _kept(name: str, value: bytes | None) -> None:
    generation = near.begin()
    assert generation is not None
    near.put({name: value}, generation)
    assert near.get(name) == (ABSENT if value is None else value)


def _gone_or_untrusted(name: str) -> bool:
    """What a request would conclude right now: no copy, or copies not to be trusted."""
    return near.begin() is None or near.get(name) is None


def test_a_write_by_any_client_drops_the_copy_before_the_writer_can_act_on_it(tracked, other_client):
    name = PREFIX + "a"
    other_client.set(name, b"old")
    wait_for(lambda: near.begin() is not None)
    _kept(name, b"old")
    other_client.set(name, b"new")
    # the writer has its reply: from here on no request of ours may serve the old copy
    assert _gone_or_untrusted(name)
    wait_for(lambda: near.begin() is not None and near.get(name) is None, message="copy dropped")


def test_a_delete_and_an_expiry_drop_the_copy(tracked, other_client):
    deleted, expiring = PREFIX + "deleted", PREFIX + "expiring"
    other_client.set(deleted, b"1")
    other_client.set(expiring, b"1", px=200)
    wait_for(lambda: near.begin() is not None)
    _kept(deleted, b"1")
    _kept(expiring, b"1")
    other_client.delete(deleted)
    assert _gone_or_untrusted(deleted)
    # Redis expires the key on its own (active expiry) and tells us
    wait_for(lambda: near.begin() is not None and near.get(expiring) is None, message="expiry seen")


def test_an_absence_is_kept_until_the_key_is_created(tracked, other_client):
    name = PREFIX + "absent"
    _kept(name, None)
    other_client.set(name, b"now here")
    assert _gone_or_untrusted(name)


def test_a_flush_drops_every_copy(tracked, other_client):
    _kept(PREFIX + "x", b"1")
    _kept(PREFIX + "y", b"2")
    other_client.flushdb()
    wait_for(lambda: near.begin() is not None and len(near) == 0, message="flush seen")


def test_a_value_read_before_a_racing_write_is_not_kept(tracked, other_client):
    name = PREFIX + "race"
    generation = near.begin()  # a request starts reading ...
    stale = b"read before the write"
    other_client.set(name, b"written meanwhile")  # ... someone writes ...
    wait_for(lambda: near.generation != generation, message="invalidation applied")
    near.put({name: stale}, generation)  # ... and the request tries to keep what it read
    assert near.get(name) is None


def test_untracked_keys_are_never_invalidated_so_never_worth_keeping(tracked, other_client):
    # only tracked prefixes are ever put; a write elsewhere does not disturb the copies
    _kept(PREFIX + "kept", b"1")
    other_client.set(f"{settings.REDIS_KEY_PREFIX}:test:elsewhere", b"x")
    wait_for(lambda: near.begin() is not None)
    assert near.get(PREFIX + "kept") == b"1"


def test_with_the_tracking_connection_gone_nothing_is_served_from_copies(tracked, other_client):
    _kept(PREFIX + "k", b"1")
    for client in other_client.client_list():
        if client.get("name") == "colony-near-cache":
            other_client.client_kill_filter(_id=client["id"])
    wait_for(lambda: not near.live, timeout=5, message="tracker noticed")
    assert near.begin() is None and len(near) == 0
    wait_for(lambda: near.begin() is not None, timeout=10, message="tracker reconnected")
    assert near.get(PREFIX + "k") is None  # copies from before the outage are not trusted


@override_settings(NEAR_CACHE_TTL=0.05)
def test_a_copy_expires_on_its_own(tracked):
    _kept(PREFIX + "ttl", b"1")
    wait_for(lambda: near.get(PREFIX + "ttl") is None, timeout=5, interval=0.01, message="copy expired")


@override_settings(NEAR_CACHE_MAX_ENTRIES=10)
def test_the_table_is_bounded(tracked):
    generation = near.begin()
    near.put({f"{PREFIX}bound:{i}": b"v" for i in range(50)}, generation)
    assert len(near) <= 10
    assert near.get(f"{PREFIX}bound:49") == b"v"  # the newest are kept


@override_settings(NEAR_CACHE_ENABLED=False)
def test_switched_off_it_serves_nothing():
    assert near.begin() is None
