"""The unread count is cached in Redis under a generation each committed change bumps."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.redis import get_redis
from apps.inbox import selectors, services
from tests.accounts.factories import UserFactory

from .factories import InboxItemFactory

pytestmark = pytest.mark.django_db


def _count(user):
    with CaptureQueriesContext(connection) as ctx:
        n = selectors.unread_count(user_id=user.pk)
    return n, len(ctx.captured_queries)


def test_a_second_read_is_served_from_redis(user):
    InboxItemFactory.create_batch(3, recipient=user)
    assert _count(user) == (3, 1)
    assert _count(user) == (3, 0)


def test_changes_invalidate_after_commit(user, django_capture_on_commit_callbacks, network):
    items = InboxItemFactory.create_batch(3, recipient=user)
    assert _count(user) == (3, 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_read(actor=user, item=items[0])
    assert _count(user) == (2, 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_all_read(actor=user)
    assert _count(user) == (0, 1)
    actors = UserFactory.create_batch(3, network=network)
    post = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        services.deliver_inbox_item(recipient=user, kind="reaction", target_type="post", target_id=post,
                                    actor=actors[0], title="reacted")  # fmt: skip
    assert _count(user) == (1, 1)
    gen = get_redis().get(selectors._keys(user.pk)[0])
    for actor in actors[1:]:  # repeats of an item still unread: the cached count stays valid
        with django_capture_on_commit_callbacks(execute=True):
            services.deliver_inbox_item(recipient=user, kind="reaction", target_type="post", target_id=post,
                                        actor=actor, title="reacted")  # fmt: skip
    assert get_redis().get(selectors._keys(user.pk)[0]) == gen
    assert _count(user) == (1, 0)


def test_the_cached_count_expires_when_a_snooze_ends(user, django_capture_on_commit_callbacks):
    InboxItemFactory(recipient=user)
    item = InboxItemFactory(recipient=user)
    with django_capture_on_commit_callbacks(execute=True):
        services.snooze(actor=user, item=item, until=timezone.now() + timedelta(seconds=40))
    assert _count(user) == (1, 1)
    gen_key, count_key = selectors._keys(user.pk)
    ttl = get_redis().ttl(count_key + (get_redis().get(gen_key) or "0"))
    assert 1 <= ttl <= 40
