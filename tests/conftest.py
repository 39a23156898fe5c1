"""Shared fixtures: two networks, users in each, API clients, live servers.

Everything runs against real PostgreSQL and Redis. Each xdist worker has its
own Redis database (see config/settings/test.py), flushed before every test.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.core.cache import LocalThrottle
from apps.core.redis import get_redis
from tests.accounts.factories import PASSWORD, UserFactory
from tests.networks.factories import NetworkFactory

pytest_plugins = ["tests.live", "tests.llm_server", "tests.browser"]


#: every key of this worker's database, deleted one by one: a FLUSHDB would tell every process
#: tracking keys (``apps.core.nearcache``) — the other test workers too — to drop all its copies
_EMPTY_DATABASE = """
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'COUNT', 1000)
  cursor = page[1]
  for _, name in ipairs(page[2]) do redis.call('UNLINK', name) end
until cursor == '0'
return 0
"""


@pytest.fixture(autouse=True)
def _clean_redis():
    from apps.apikeys.usage import meter
    from apps.core.nearcache import near

    get_redis().eval(_EMPTY_DATABASE, 0)
    LocalThrottle.clear_all()  # process-memory throttles in front of Redis go with it
    meter.discard()  # and the API-key meter's unflushed counts and claimed tokens
    near.clear()
    yield


@pytest.fixture
def django_capture_on_commit_callbacks():
    """pytest-django's fixture, plus a batch boundary: work batched with ``apps.core.oncommit``
    before the block is not flushed by it (exactly as with plain ``on_commit`` callbacks)."""
    from contextlib import contextmanager

    from django.db import DEFAULT_DB_ALIAS
    from django.test import TestCase

    from apps.core.oncommit import start_new_batches

    @contextmanager
    def capture(*, using=DEFAULT_DB_ALIAS, execute=False):
        start_new_batches(using)
        with TestCase.captureOnCommitCallbacks(using=using, execute=execute) as callbacks:
            yield callbacks

    return capture


@pytest.fixture
def network(db):
    return NetworkFactory(slug="alpha", name="Alpha", is_default=True)


@pytest.fixture
def other_network(db):
    return NetworkFactory(slug="beta", name="Beta", domain="beta.example.com")


@pytest.fixture
def user(network):
    return UserFactory(network=network)


@pytest.fixture
def other_user(other_network):
    return UserFactory(network=other_network)


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user_client(user):
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def other_client(other_user):
    client = APIClient()
    client.force_login(other_user)
    return client
