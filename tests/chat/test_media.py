"""Attachments: ready core Uploads of the sender, consumed once, released with the message."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from apps.chat import services
from apps.chat.models import Conversation, Message, MessageMedia
from apps.core.exceptions import ValidationFailed
from apps.core.models import Upload
from apps.core.uploads import ingest_upload
from tests.accounts.factories import UserFactory

from .factories import direct

pytestmark = pytest.mark.django_db


def png(actor) -> Upload:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), (200, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    return ingest_upload(actor=actor, fileobj=buffer, filename="dot.png")


def test_a_message_carries_ready_uploads_of_its_sender(user, user_client, django_capture_on_commit_callbacks):
    conversation = direct(user)
    upload = png(user)
    response = user_client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"body": "look", "media": [str(upload.pk)]},
        format="json",
    )
    assert response.status_code == 201, response.content
    media = response.json()["media"]
    assert [(m["kind"], m["width"], m["height"], m["mime"]) for m in media] == [("image", 6, 4, "image/png")]
    assert media[0]["url"]
    listed = user_client.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert listed[0]["media"][0]["id"] == media[0]["id"]
    # deleting the message releases the file
    message = Message.objects.get(pk=response.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_message(actor=user, message=message)
    assert not MessageMedia.objects.exists() and not Upload.objects.filter(pk=upload.pk).exists()


def test_someone_elses_or_a_used_upload_is_refused_and_nothing_is_stored(user):
    conversation = direct(user)
    theirs = png(UserFactory(network=user.network))
    with pytest.raises(ValidationFailed) as error:
        services.send_message(actor=user, conversation=conversation, body="x", media=[theirs.pk])
    assert error.value.field == "media"
    mine = png(user)
    services.send_message(actor=user, conversation=conversation, body="first", media=[mine.pk])
    with pytest.raises(ValidationFailed):
        services.send_message(actor=user, conversation=conversation, body="again", media=[mine.pk])
    assert Message.objects.count() == 1
    assert Conversation.objects.get(pk=conversation.pk).last_message_seq == 1  # the refused sends left no gap


def test_a_message_may_be_only_attachments(user):
    message = services.send_message(actor=user, conversation=direct(user), body="", media=[png(user).pk])
    assert message.body == "" and message.media.count() == 1


def test_a_socket_send_carries_media_and_bad_media_is_a_field_error(user):
    from apps.chat.socket import _send

    def send_frame(user, frame):  # the sync body behind database_sync_to_async, on a socket's scope
        return _send.func({"type": "websocket", "user": user, "client": ("127.0.0.1", 1)}, frame)

    conversation = direct(user)
    upload = png(user)
    ack = send_frame(
        user,
        {"conversation_id": str(conversation.pk), "body": "", "client_id": None, "media": [str(upload.pk)]},
    )
    assert [m["kind"] for m in ack["message"]["media"]] == ["image"]
    for bad in ("x", ["not-a-uuid"], [str(upload.pk)] * 11):
        with pytest.raises(ValidationFailed) as error:
            send_frame(user, {"conversation_id": str(conversation.pk), "body": "hi", "media": bad})
        assert error.value.field == "media"
    assert Message.objects.count() == 1
