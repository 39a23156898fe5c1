"""The single-event statement (a reaction, a reply: the storm's hot path) against the batch statement."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import _queries

from apps.inbox import delivery
from apps.inbox.models import InboxItem
from apps.notifications.models import Notification
from apps.preferences.services.account_settings import update_settings
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

_FIELDS = ("kind", "actor_id", "actor_count", "actor_ids", "title", "body", "target_url", "data", "read_at",
           "requires_action", "action_state")  # fmt: skip


def _state(item: InboxItem) -> dict:
    return {name: getattr(item, name) for name in _FIELDS}


def test_one_event_at_a_time_and_one_batch_write_the_same_item(deliver, network):
    """Each call its own commit (the scalar statement, every time) vs all in one transaction for two
    recipients (the array statement): the same aggregation, data merge, URL and action rules."""
    one, batched, other = UserFactory.create_batch(3, network=network)
    ada, bob, cy = UserFactory.create_batch(3, network=network)
    when = uuid.uuid4()
    calls = [
        {"actor": ada, "data": {"n": 1, "ref": when}, "target_url": "/p/1"},
        {"actor": bob, "data": {"m": 2}, "title": "bob", "body": "hi"},
        {"actor": cy, "requires_action": True, "target_url": "/p/3"},
        {"actor": ada, "data": {"n": 4}, "title": "ada again"},
    ]
    for call in calls:
        deliver(recipient=one, kind="community_join_request", **call)
    with deliver.batch():
        for call in calls:
            deliver.queue(recipient=batched, kind="community_join_request", **call)
            deliver.queue(recipient=other, kind="community_join_request", **call)  # two keys: the arrays
    a, b = InboxItem.objects.get(recipient=one), InboxItem.objects.get(recipient=batched)
    assert _state(a) == _state(b)
    assert a.actor_count == 3 and a.actor_ids == [ada.pk, cy.pk, bob.pk]
    assert a.data == {"n": 4, "ref": str(when), "m": 2} and a.target_url == "/p/3"
    assert a.title == "ada again" and a.action_state == "pending"


def test_the_single_event_statement_fits_the_drivers_parse_cache():
    """psycopg caches the placeholder parsing of statements up to 4,096 bytes; longer ones are parsed
    on every call (that was a measurable share of each reaction's cost)."""
    assert len(delivery._statement(True).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert delivery._statement(True) is delivery._statement(True)  # built once


def test_a_repeat_of_an_unread_item_is_one_statement_and_nothing_else(deliver, network):
    owner = UserFactory(network=network)
    actors = UserFactory.create_batch(3, network=network)
    deliver(recipient=owner, actor=actors[0])
    for actor in actors[1:]:
        with CaptureQueriesContext(connection) as ctx:
            deliver(recipient=owner, actor=actor)
        assert len(ctx.captured_queries) == 1, [q["sql"][:80] for q in ctx.captured_queries]
    item = InboxItem.objects.get()
    assert item.actor_count == 3 and item.actor_ids[0] == actors[-1].pk
    assert Notification.objects.filter(inbox_item=item).count() == 1


def test_the_scalar_statement_keeps_blocks_and_mutes(deliver, network):
    from apps.social.models import Block

    owner = UserFactory(network=network)
    ada, bob = UserFactory.create_batch(2, network=network)
    Block.objects.create(network=network, blocker=owner, blocked=ada)
    deliver(recipient=owner, actor=ada)
    assert not InboxItem.objects.exists()
    deliver(recipient=owner, actor=bob)
    deliver(recipient=owner, actor=ada)  # a blocked actor's repeat: not counted
    assert InboxItem.objects.get().actor_count == 1
    update_settings(actor=owner, notification_choices={"mention": {"in_app": False}})
    deliver(recipient=owner, actor=bob, kind="mention")
    assert not InboxItem.objects.filter(kind="mention").exists()
