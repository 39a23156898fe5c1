"""The chat back office: conversations, messages read-only and searchable, deletion through the service."""

from __future__ import annotations

import pytest

from apps.chat.models import Message
from apps.core.models import AuditEvent
from tests.accounts.factories import UserFactory

from .factories import group, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, network):
    client.force_login(UserFactory(network=network, is_staff=True, is_superuser=True))
    return client


def test_staff_find_a_reported_message_by_its_text_and_read_it(staff_client, user):
    conversation = group(user, UserFactory(network=user.network))
    reported = send(user, conversation, "buy cheap watches here")
    send(user, conversation, "lunch at noon?")
    listing = staff_client.get("/admin/chat/message/", {"q": "watches"}).content.decode()
    assert "buy cheap watches" in listing and "lunch at noon" not in listing
    assert staff_client.get(f"/admin/chat/message/{reported.pk}/change/").status_code == 200
    assert staff_client.get(f"/admin/chat/conversation/{conversation.pk}/change/").status_code == 200
    assert staff_client.get("/admin/chat/conversation/", {"q": "Team"}).status_code == 200


def test_messages_are_read_only_and_deleted_only_through_the_service(staff_client, user):
    conversation = group(user, UserFactory(network=user.network))
    message = send(user, conversation, "spam spam")
    url = f"/admin/chat/message/{message.pk}/change/"
    staff_client.post(url, {"body": "rewritten"})
    assert Message.objects.get(pk=message.pk).body == "spam spam"
    assert staff_client.get("/admin/chat/message/add/").status_code == 403
    assert staff_client.post(f"/admin/chat/message/{message.pk}/delete/").status_code == 403

    response = staff_client.post(
        "/admin/chat/message/", {"action": "delete_through_service", "_selected_action": [str(message.pk)]}
    )
    assert response.status_code == 302
    tombstone = Message.objects.get(pk=message.pk)
    assert tombstone.deleted_at is not None and tombstone.body == ""
    assert AuditEvent.objects.filter(action="mod.message.deleted", target_id=message.pk).count() == 1
