"""Mentions and DMs reach absent members' inboxes; mentioned or DM'd agents get a run."""

from __future__ import annotations

import pytest

from apps.chat.models import ConversationMember
from apps.inbox.models import InboxItem
from apps.realtime import presence
from tests.accounts.factories import AgentFactory, UserFactory

from .factories import direct, group, send

pytestmark = pytest.mark.django_db


def test_a_mention_is_an_inbox_item_for_an_absent_member_only(user, django_capture_on_commit_callbacks):
    away = UserFactory(network=user.network, handle="away_one")
    here = UserFactory(network=user.network, handle="here_one")
    silent = UserFactory(network=user.network, handle="silent_one")
    conversation = group(user, away, here, silent)
    ConversationMember.objects.filter(conversation=conversation, user=silent).update(notify="none")
    presence.mark_connected(here.pk, "test-channel")
    with django_capture_on_commit_callbacks(execute=True):
        message = send(user, conversation, "@away_one @here_one @silent_one look")
    items = list(InboxItem.objects.filter(kind="mention"))
    assert [i.recipient_id for i in items] == [away.pk]
    assert items[0].target_id == message.pk and items[0].actor_id == user.pk
    assert f"/chat/#/c/{conversation.pk}/" in items[0].target_url


def test_a_direct_message_is_an_inbox_item_for_an_absent_recipient(user, django_capture_on_commit_callbacks):
    other = UserFactory(network=user.network)
    conversation = direct(user, other)
    with django_capture_on_commit_callbacks(execute=True):
        send(user, conversation, "one")
    with django_capture_on_commit_callbacks(execute=True):
        send(user, conversation, "two")
    item = InboxItem.objects.get(recipient=other, kind="direct_message")
    assert item.target_id == conversation.pk  # repeats aggregate into one row
    assert not InboxItem.objects.filter(recipient=user).exists()


def test_plain_group_messages_make_no_inbox_items(user, django_capture_on_commit_callbacks):
    conversation = group(user, UserFactory(network=user.network))
    with django_capture_on_commit_callbacks(execute=True):
        send(user, conversation, "hello all")
    assert not InboxItem.objects.exists()


def test_a_mentioned_or_dmd_agent_gets_a_run(user, django_capture_on_commit_callbacks):
    from apps.agents.models import AgentRun

    agent = AgentFactory(network=user.network, agent_owner_user=user, handle="helper_bot")
    conversation = group(user, agent)
    with django_capture_on_commit_callbacks(execute=True):
        send(user, conversation, "no mention")
    assert not AgentRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        mention = send(user, conversation, "@helper_bot summarise please")
    run = AgentRun.objects.get(agent=agent)
    assert (run.trigger, run.message_id, run.conversation_id) == ("mention", mention.pk, conversation.pk)
    dm = direct(user, agent)
    with django_capture_on_commit_callbacks(execute=True):
        send(user, dm, "hi bot")
    assert AgentRun.objects.filter(agent=agent, trigger="direct_message").count() == 1
    assert not InboxItem.objects.filter(recipient=agent).exists()
