"""Chat's client actions on the one ``/ws/`` socket and its ``conv.<id>`` groups.

Registered with ``apps.realtime.dispatch`` from ``ChatConfig.ready``:

* ``{"type": "message.send", "conversation_id", "body", "client_id", "reply_to"?, "media"?}`` →
  ``send_message``; answered with ``message.ack`` (the stored message, with its
  seq; ``duplicate: true`` for a repeated ``client_id``). Everyone in the
  conversation, the sender's other sockets included, gets ``message.created``
  (not for a duplicate).
* ``{"type": "typing", "conversation_id"}`` → ``send_typing`` (≤ 1 per 3 s, not stored).
* ``{"type": "read", "conversation_id", "seq"}`` → ``mark_read`` → ``read_cursor.updated``.

A malformed frame, an unknown conversation (404), a rate limit (429) … is an
``error`` frame echoing ``client_id`` / ``ref``; the socket stays open.

A channel of an org-owned project or community (``Conversation.organization``)
is under that organization's security policy here as in the API: a socket the
policy refuses (2FA required and not enrolled, an address outside the IP
allowlist, …) does not join its ``conv.<id>``, gets none of its events (they
carry the organization, ``apps.realtime.policy``), and its actions on it are
``error`` frames with the API's code (``org_2fa_required``, ``ip_not_allowed``…).
"""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async

from apps.core.exceptions import ValidationFailed
from apps.realtime import dispatch
from apps.realtime.policy import check_organization

from . import selectors, services
from .media import MAX_MEDIA
from .models import Conversation, conversation_group
from .payloads import message_payloads


def _checked_uuid(frame: dict[str, Any], name: str, *, required: bool = True) -> uuid.UUID | None:
    value = frame.get(name)
    if value in (None, "") and not required:
        return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationFailed(f"{name} must be a UUID.", field=name)


def _media_ids(frame: dict[str, Any]) -> list[uuid.UUID]:
    """``media``: up to ``MAX_MEDIA`` ready upload ids (the service checks they are the sender's)."""
    raw = frame.get("media")
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_MEDIA:
        raise ValidationFailed(f"media is a list of at most {MAX_MEDIA} upload ids.", field="media")
    ids = []
    for value in raw:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            raise ValidationFailed("media holds upload ids.", field="media") from None
    return ids


def _conversation_id(scope: dict[str, Any], frame: dict[str, Any]) -> uuid.UUID:
    """The frame's conversation, once its organization's security policy allows this socket."""
    conversation_id = _checked_uuid(frame, "conversation_id")
    user = scope["user"]

    def organization_of() -> Any:  # only read when some organization refuses the socket
        return (
            Conversation.objects.filter(pk=conversation_id, network_id=user.network_id)
            .values_list("organization_id", flat=True)
            .first()
        )

    check_organization(scope, organization_of)
    return conversation_id


@database_sync_to_async
def _send(scope: dict[str, Any], frame: dict[str, Any]) -> dict[str, Any]:
    user = scope["user"]
    conversation_id = _conversation_id(scope, frame)
    body = frame.get("body")
    if not isinstance(body, str):
        raise ValidationFailed("body must be text.", field="body")
    message = services.send_message(
        actor=user,
        conversation=conversation_id,
        body=body,
        client_id=_checked_uuid(frame, "client_id", required=False),
        reply_to=_checked_uuid(frame, "reply_to", required=False),
        media=_media_ids(frame) or None,
    )
    return {
        "type": "message.ack",
        "client_id": str(message.client_id) if message.client_id else None,
        "duplicate": not message.created_now,
        # a new message brings the payload its broadcast carried; a duplicate is read back
        "message": message.payload if message.created_now else message_payloads([message])[0],
    }


async def message_send(socket: Any, frame: dict[str, Any]) -> None:
    await socket.reply(frame, await _send(socket.scope, frame))


@database_sync_to_async
def _typing(scope: dict[str, Any], frame: dict[str, Any]) -> None:
    services.send_typing(actor=scope["user"], conversation=_conversation_id(scope, frame))


async def typing(socket: Any, frame: dict[str, Any]) -> None:
    await _typing(socket.scope, frame)


@database_sync_to_async
def _read(scope: dict[str, Any], frame: dict[str, Any]) -> int:
    seq = frame.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or seq > 2**62:
        raise ValidationFailed("seq must be a non-negative integer.", field="seq")
    return services.mark_read(actor=scope["user"], conversation=_conversation_id(scope, frame), seq=seq)


async def read(socket: Any, frame: dict[str, Any]) -> None:
    value = await _read(socket.scope, frame)
    if frame.get("ref") is not None:
        await socket.reply(frame, {"type": "read.ack", "last_read_seq": value})


@database_sync_to_async
def _groups(user: Any) -> list[tuple[str, Any]]:
    # named with their organization: the consumer joins an org's channel only under its policy
    return [(conversation_group(cid), org) for cid, org in selectors.conversation_groups_of(user)]


async def conversation_groups(user: Any) -> list[tuple[str, Any]]:
    return await _groups(user)


def register() -> None:
    dispatch.register_action("message.send", message_send)
    dispatch.register_action("typing", typing)
    dispatch.register_action("read", read)
    dispatch.register_groups(conversation_groups)
