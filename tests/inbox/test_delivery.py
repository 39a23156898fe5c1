"""deliver_inbox_item: one aggregated item per (recipient, kind, target); who never gets one."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.inbox.models import InboxItem
from apps.inbox.services import close_action_items, deliver_inbox_item
from apps.notifications.models import Notification
from apps.preferences.services.account_settings import update_settings
from tests.accounts.factories import UserFactory

from .conftest import POST

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(network):
    return UserFactory.create_batch(4, network=network)


def test_repeats_aggregate_into_one_item_with_the_latest_actors_first(deliver, people):
    owner, ada, bob, cy = people
    for actor in (ada, bob, cy):
        deliver(recipient=owner, actor=actor, title=f"{actor.handle} reacted")
    item = InboxItem.objects.get()
    assert item.actor_count == 3
    assert item.actor_ids == [cy.pk, bob.pk, ada.pk]
    assert item.actor_id == cy.pk and item.title == f"{cy.handle} reacted"
    assert item.read_at is None and item.network_id == owner.network_id


def test_the_same_actor_again_does_not_count_twice(deliver, people):
    owner, ada, bob, _ = people
    deliver(recipient=owner, actor=ada)
    deliver(recipient=owner, actor=bob)
    deliver(recipient=owner, actor=ada)
    item = InboxItem.objects.get()
    assert item.actor_count == 2 and item.actor_ids == [ada.pk, bob.pk]


def test_actor_ids_keep_the_last_five(deliver, network):
    owner, *actors = UserFactory.create_batch(8, network=network)
    for actor in actors:
        deliver(recipient=owner, actor=actor)
    item = InboxItem.objects.get()
    assert item.actor_count == 7
    assert item.actor_ids == [a.pk for a in reversed(actors)][:5]


def test_repeats_in_one_transaction_aggregate_too(deliver, people):
    owner, ada, bob, cy = people
    with deliver.batch():
        for actor in (ada, bob, cy, ada):
            deliver.queue(recipient=owner, actor=actor)
    item = InboxItem.objects.get()
    assert item.actor_count == 3 and item.actor_ids == [ada.pk, cy.pk, bob.pk]
    assert Notification.objects.filter(channel="in_app").count() == 1


def test_a_repeat_makes_a_read_or_snoozed_item_unread_and_notifies_again(deliver, people):
    owner, ada, bob, cy = people
    deliver(recipient=owner, actor=ada)
    InboxItem.objects.update(read_at=timezone.now())
    deliver(recipient=owner, actor=bob)
    item = InboxItem.objects.get()
    assert item.read_at is None
    InboxItem.objects.update(snoozed_until=timezone.now() + timedelta(days=1))
    deliver(recipient=owner, actor=cy)
    assert InboxItem.objects.get().snoozed_until is None
    assert Notification.objects.filter(channel="in_app").count() == 3


def test_a_repeat_of_an_unread_item_does_not_notify_again(deliver, people):
    owner, ada, bob, _ = people
    deliver(recipient=owner, actor=ada)
    deliver(recipient=owner, actor=bob)
    assert Notification.objects.filter(channel="in_app").count() == 1


def test_an_archived_item_stays_archived_and_a_new_event_opens_a_new_one(deliver, people):
    owner, ada, bob, _ = people
    deliver(recipient=owner, actor=ada)
    InboxItem.objects.update(archived_at=timezone.now(), read_at=timezone.now())
    deliver(recipient=owner, actor=bob)
    assert InboxItem.objects.count() == 2
    fresh = InboxItem.objects.get(archived_at__isnull=True)
    assert fresh.actor_count == 1 and fresh.actor_ids == [bob.pk]


def test_different_kinds_or_targets_are_different_items(deliver, people):
    owner, ada, _, _ = people
    deliver(recipient=owner, actor=ada)
    deliver(recipient=owner, actor=ada, kind="reply")
    deliver(recipient=owner, actor=ada, target_id=uuid.uuid4())
    assert InboxItem.objects.count() == 3


def test_your_own_action_is_not_news(deliver, people):
    owner = people[0]
    deliver(recipient=owner, actor=owner)
    assert not InboxItem.objects.exists()


def test_a_recipient_who_blocked_the_actor_gets_nothing(deliver, people):
    from apps.social.models import Block

    owner, ada, bob, _ = people
    Block.objects.create(network=owner.network, blocker=owner, blocked=ada)
    deliver(recipient=owner, actor=ada)
    assert not InboxItem.objects.exists()
    deliver(recipient=owner, actor=bob)
    assert InboxItem.objects.get().actor_ids == [bob.pk]


def test_a_blocked_actor_is_left_out_of_an_aggregated_batch(deliver, people):
    from apps.social.models import Block

    owner, ada, bob, cy = people
    Block.objects.create(network=owner.network, blocker=owner, blocked=bob)
    Block.objects.create(network=owner.network, blocker=ada, blocked=cy)  # someone else's block: irrelevant
    with deliver.batch():
        for actor in (ada, bob, cy):
            deliver.queue(recipient=owner, actor=actor)
    item = InboxItem.objects.get()
    assert item.actor_ids == [cy.pk, ada.pk] and item.actor_count == 2
    with deliver.batch():
        deliver.queue(recipient=owner, actor=bob, kind="follow")
    assert not InboxItem.objects.filter(kind="follow").exists()


def test_a_muted_kind_creates_no_item(deliver, people):
    owner, ada, _, _ = people
    update_settings(actor=owner, notification_choices={"reaction": {"in_app": False}})
    deliver(recipient=owner, actor=ada)
    assert not InboxItem.objects.exists()
    deliver(recipient=owner, actor=ada, kind="reply")
    assert InboxItem.objects.filter(kind="reply").exists()


def test_security_items_cannot_be_muted(deliver, people):
    owner = people[0]
    update_settings(actor=owner, notification_choices={"security": {"in_app": False, "email": False}})
    deliver(
        recipient=owner,
        kind="security",
        target_type="loginhistory",
        target_id=uuid.uuid4(),
        title="New sign-in",
    )
    assert InboxItem.objects.filter(kind="security").exists()
    assert Notification.objects.filter(kind="security", channel="email", is_digest=False).exists()


def test_inactive_recipients_and_other_networks_get_nothing(deliver, people, other_user):
    owner, ada, _, _ = people
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    deliver(recipient=owner, actor=ada)
    deliver(recipient=other_user, actor=ada)  # another network's user
    assert not InboxItem.objects.exists()


def test_nothing_is_delivered_for_a_rolled_back_transaction(people):
    owner, ada, _, _ = people
    with pytest.raises(RuntimeError), transaction.atomic():
        deliver_inbox_item(recipient=owner, kind="mention", target_type="post", target_id=POST, actor=ada)
        raise RuntimeError
    assert not InboxItem.objects.exists()


def test_bad_arguments_are_programming_errors(people):
    owner = people[0]
    with pytest.raises(ValueError, match="unknown inbox kind"):
        deliver_inbox_item(recipient=owner, kind="nope", target_type="post", target_id=POST)
    with pytest.raises(ValueError, match="target_id"):
        deliver_inbox_item(recipient=owner, kind="mention", target_type="post", target_id="not-a-uuid")
    with pytest.raises(ValueError, match="target_type"):
        deliver_inbox_item(recipient=owner, kind="mention", target_type="", target_id=POST)
    deliver_inbox_item(recipient=None, kind="mention", target_type="post", target_id=POST)  # no one: nothing


def test_a_storm_of_1000_reactions_is_one_item_with_bounded_work(
    deliver, network, django_assert_max_num_queries
):
    """Each reaction is its own transaction: constant SQL per reaction, one item, one notification."""
    owner = UserFactory(network=network)
    actors = UserFactory.create_batch(1000, network=network)
    for n, actor in enumerate(actors):
        if n in (1, 999):  # a repeat costs the same at any size
            with django_assert_max_num_queries(4):
                deliver(recipient=owner, actor=actor)
        else:
            deliver(recipient=owner, actor=actor)
    item = InboxItem.objects.get()
    assert item.actor_count == 1000
    assert Notification.objects.filter(inbox_item=item).count() == 1  # in_app only (reactions: no push/email)


def test_a_storm_in_one_transaction_is_one_statement(deliver, network, django_assert_max_num_queries):
    owner = UserFactory(network=network)
    actors = UserFactory.create_batch(50, network=network)
    with django_assert_max_num_queries(len(actors) + 6), deliver.batch():
        for actor in actors:  # one block check per distinct actor, one upsert
            deliver.queue(recipient=owner, actor=actor)
    item = InboxItem.objects.get()
    assert item.actor_count == 50 and item.actor_ids == [a.pk for a in reversed(actors)][:5]


def test_a_mention_of_1000_members_is_written_in_constant_queries(
    deliver, network, django_assert_max_num_queries
):
    author = UserFactory(network=network)
    members = UserFactory.create_batch(1000, network=network)
    with django_assert_max_num_queries(10), deliver.batch():
        for member in members:
            deliver.queue(recipient=member, actor=author, kind="mention", title="You were mentioned")
    assert InboxItem.objects.filter(kind="mention").count() == 1000
    assert Notification.objects.filter(kind="mention", channel="in_app").count() == 1000
    assert Notification.objects.filter(kind="mention", channel="email", is_digest=True).count() == 1000


def test_data_merges_and_requires_action_reopens(deliver, people):
    owner, ada, _, _ = people
    deliver(recipient=owner, actor=ada, kind="community_join_request", data={"a": 1}, requires_action=True)
    close_items = InboxItem.objects.get()
    assert close_items.action_state == "pending"
    with deliver.batch():
        close_action_items(kind="community_join_request", target_type="post", target_id=POST)
    assert InboxItem.objects.get().action_state == "done"
    deliver(recipient=owner, actor=ada, kind="community_join_request", data={"b": 2}, requires_action=True)
    item = InboxItem.objects.get()
    assert item.action_state == "pending" and item.data == {"a": 1, "b": 2}


def test_close_after_deliver_in_one_transaction_applies_in_order(deliver, people):
    owner, ada, bob, _ = people
    with deliver.batch():
        for recipient in (owner, bob):
            deliver.queue(recipient=recipient, actor=ada, kind="org_invite", requires_action=True)
        close_action_items(kind="org_invite", target_type="post", target_id=POST, state="dismissed")
    assert set(InboxItem.objects.values_list("action_state", flat=True)) == {"dismissed"}
    with pytest.raises(ValueError):
        close_action_items(kind="org_invite", target_type="post", target_id=POST, state="pending")


def test_a_batch_of_repeats_merges_with_the_existing_actors(deliver, people):
    owner, ada, bob, cy = people
    deliver(recipient=owner, actor=ada)
    with deliver.batch():
        for actor in (bob, ada, cy):
            deliver.queue(recipient=owner, actor=actor)
    item = InboxItem.objects.get()
    assert item.actor_count == 3
    assert item.actor_ids == [cy.pk, ada.pk, bob.pk]


def test_purge_drops_archived_after_180_days_and_read_after_365_days_in_batches(user):
    from apps.inbox import services as inbox_services
    from apps.inbox.tasks import purge

    from .factories import InboxItemFactory

    now = timezone.now()

    def item(age_days: int, **state):
        at = now - timedelta(days=age_days)
        return InboxItemFactory(recipient=user, last_event_at=at, **{k: at for k in state})

    gone = [item(181, archived_at=True), item(200, archived_at=True), item(366, read_at=True)]
    kept = [
        item(179, archived_at=True),  # archived, not old enough
        item(364, read_at=True),  # read, not old enough
        item(400),  # unread: kept however old
        item(1),
    ]
    assert inbox_services.purge(batch_size=2) == len(gone)
    assert set(InboxItem.objects.values_list("pk", flat=True)) == {i.pk for i in kept}
    assert purge.delay().get() == 0  # idempotent: nothing left to drop


def test_the_socket_payload_is_exactly_the_serializers_rendering(user):
    from apps.inbox.payloads import item_payload, item_payload_slow

    from .factories import InboxItemFactory

    actor = UserFactory(network=user.network)
    now = timezone.now()
    for item in (
        InboxItemFactory(recipient=user),
        InboxItemFactory(
            recipient=user,
            actor=actor,
            actor_ids=[actor.pk, uuid.uuid4()],
            actor_count=2,
            read_at=now,
            archived_at=now,
            snoozed_until=now + timedelta(hours=1),
            requires_action=True,
            action_state="pending",
            data={"url": "/x", "n": [1, 2]},
            body="b",
            target_url="/t",
        ),  # fmt: skip
    ):
        item = InboxItem.objects.select_related("actor").get(pk=item.pk)
        assert item_payload(item) == item_payload_slow(item)
