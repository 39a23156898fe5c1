"""send_message: seq under the row lock, idempotent client_id, limits, DM policy."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections

from apps.chat import services
from apps.chat.models import Conversation, Message, ReadCursor
from apps.core.exceptions import NotFound, PermissionDenied, RateLimited, ValidationFailed
from tests.accounts.factories import UserFactory

from .factories import direct, group, send


@pytest.mark.django_db
def test_send_assigns_consecutive_seqs_and_advances_the_senders_cursor(user):
    other = UserFactory(network=user.network)
    conversation = group(user, other)
    first = send(user, conversation, "one")
    second = send(other, conversation, "two")
    assert (first.seq, second.seq) == (1, 2)
    conversation.refresh_from_db()
    assert conversation.last_message_seq == 2
    assert ReadCursor.objects.get(conversation=conversation, user=other).last_read_seq == 2
    assert ReadCursor.objects.get(conversation=conversation, user=user).last_read_seq == 1
    assert first.created_now and second.created_now


@pytest.mark.django_db
def test_body_is_rendered_sanitised_and_mentions_resolve_to_members(user):
    bob = UserFactory(network=user.network, handle="bob_b")
    outsider = UserFactory(network=user.network, handle="carol_c")
    conversation = group(user, bob)
    message = send(user, conversation, "hi @bob_b and @carol_c <script>x</script> **bold**")
    assert message.mentioned_user_ids == [str(bob.pk)]
    assert "<script>" not in message.body_html and "<strong>bold</strong>" in message.body_html
    assert str(outsider.pk) not in message.mentioned_user_ids


@pytest.mark.django_db
def test_retry_with_the_same_client_id_returns_the_stored_message_and_broadcasts_nothing(
    user, django_capture_on_commit_callbacks
):
    conversation = direct(user)
    client_id = uuid.uuid4()
    with django_capture_on_commit_callbacks() as first_callbacks:
        first = send(user, conversation, "once", client_id=client_id)
    with django_capture_on_commit_callbacks() as retry_callbacks:
        again = send(user, conversation, "once (retried)", client_id=client_id)
    assert again.pk == first.pk and again.seq == first.seq and again.body == "once"
    assert not again.created_now
    assert len(first_callbacks) == 1 and retry_callbacks == []
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.django_db
def test_message_over_the_size_limit_is_refused_and_nothing_is_stored(user, settings):
    conversation = direct(user)
    with pytest.raises(ValidationFailed) as error:
        send(user, conversation, "x" * (settings.CHAT_MESSAGE_MAX_CHARS + 1))
    assert error.value.code == "message_too_long" and error.value.field == "body"
    send(user, conversation, "x" * settings.CHAT_MESSAGE_MAX_CHARS)
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert Conversation.objects.get(pk=conversation.pk).last_message_seq == 1


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["", "   \n", "\x00 nul"])
def test_blank_or_nul_bodies_are_refused(user, body):
    with pytest.raises(ValidationFailed):
        send(user, direct(user), body)


@pytest.mark.django_db
def test_non_member_and_other_network_sends_are_404(user, other_user):
    stranger = UserFactory(network=user.network)
    conversation = group(user, UserFactory(network=user.network))
    for actor in (stranger, other_user):
        with pytest.raises(NotFound):
            send(actor, conversation)
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_burst_then_one_per_second(user, settings):
    settings.CHAT_SEND_BURST = 5
    conversation = direct(user)
    for _ in range(5):
        send(user, conversation)
    with pytest.raises(RateLimited) as error:
        send(user, conversation)
    assert error.value.retry_after == 1
    assert Message.objects.filter(conversation=conversation).count() == 5
    # a retry of a stored client_id is not a new send: no token needed
    stored = Message.objects.filter(conversation=conversation).first()
    stored.client_id = uuid.uuid4()
    stored.save(update_fields=["client_id"])
    assert send(user, conversation, client_id=stored.client_id).pk == stored.pk


@pytest.mark.django_db
def test_direct_conversation_is_one_per_pair(user):
    other = UserFactory(network=user.network)
    a, created_a = services.get_or_create_direct(actor=user, other=other)
    b, created_b = services.get_or_create_direct(actor=other, other=user)
    assert a.pk == b.pk and created_a and not created_b
    assert a.member_count == 2


@pytest.mark.django_db
def test_dm_is_refused_across_a_block_either_way(user):
    from apps.social.models import Block

    other = UserFactory(network=user.network)
    conversation = direct(user, other)
    Block.objects.create(network=user.network, blocker=other, blocked=user)
    with pytest.raises(PermissionDenied) as error:
        services.get_or_create_direct(actor=user, other=other)
    assert error.value.code == "dm_refused"
    with pytest.raises(PermissionDenied):
        send(user, conversation)
    with pytest.raises(PermissionDenied):
        send(other, conversation)  # the blocker cannot write to them either


@pytest.mark.django_db
@pytest.mark.parametrize("allow", ["nobody", "following"])
def test_dm_is_refused_by_the_recipients_setting(user, allow):
    from apps.preferences.models import UserSettings

    other = UserFactory(network=user.network)
    UserSettings.objects.create(network=user.network, user=other, allow_dms_from=allow)
    with pytest.raises(PermissionDenied):
        services.get_or_create_direct(actor=user, other=other)
    assert not Conversation.objects.exists()


@pytest.mark.django_db
def test_dm_with_yourself_or_another_network_is_refused(user, other_user):
    with pytest.raises(ValidationFailed):
        services.get_or_create_direct(actor=user, other=user)
    with pytest.raises(NotFound):
        services.get_or_create_direct(actor=user, other=other_user)


def _run_threads(count: int, work) -> list:
    results: list = [None] * count
    errors: list = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait(5)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 — collected and re-raised below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if errors:
        raise errors[0]
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sends_get_twenty_distinct_gap_free_seqs(network):
    senders = [UserFactory(network=network) for _ in range(4)]
    conversation = group(senders[0], *senders[1:])
    connection.close()
    messages = _run_threads(20, lambda i: send(senders[i % 4], conversation, f"m{i}"))
    seqs = sorted(m.seq for m in messages)
    assert seqs == list(range(1, 21))
    assert sorted(Message.objects.filter(conversation=conversation).values_list("seq", flat=True)) == seqs
    assert Conversation.objects.get(pk=conversation.pk).last_message_seq == 20


@pytest.mark.django_db(transaction=True)
def test_same_client_id_sent_ten_times_concurrently_stores_one_message(network):
    user = UserFactory(network=network)
    conversation = direct(user)
    client_id = uuid.uuid4()
    connection.close()
    messages = _run_threads(10, lambda i: send(user, conversation, "once", client_id=client_id))
    assert len({m.pk for m in messages}) == 1
    assert sum(1 for m in messages if m.created_now) == 1
    assert Message.objects.filter(conversation=conversation).count() == 1
    # the losers' seq increments were rolled back with them: no gap
    assert Conversation.objects.get(pk=conversation.pk).last_message_seq == 1
    assert send(user, conversation, "next").seq == 2
