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
"""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async

from apps.core.exceptions import ValidationFailed
from apps.realtime import dispatch

from . import selectors, services
from .media import MAX_MEDIA
from .models import conversation_group
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


@database_sync_to_async
def _send(user: Any, frame: dict[str, Any]) -> dict[str, Any]:
    conversation_id = _checked_uuid(frame, "conversation_id")
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
        "message": message_payloads([message])[0],
    }


async def message_send(socket: Any, frame: dict[str, Any]) -> None:
    await socket.reply(frame, await _send(socket.user, frame))


@database_sync_to_async
def _typing(user: Any, frame: dict[str, Any]) -> None:
    services.send_typing(actor=user, conversation=_checked_uuid(frame, "conversation_id"))


async def typing(socket: Any, frame: dict[str, Any]) -> None:
    await _typing(socket.user, frame)


@database_sync_to_async
def _read(user: Any, frame: dict[str, Any]) -> int:
    seq = frame.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or seq > 2**62:
        raise ValidationFailed("seq must be a non-negative integer.", field="seq")
    return services.mark_read(actor=user, conversation=_checked_uuid(frame, "conversation_id"), seq=seq)


async def read(socket: Any, frame: dict[str, Any]) -> None:
    value = await _read(socket.user, frame)
    if frame.get("ref") is not None:
        await socket.reply(frame, {"type": "read.ack", "last_read_seq": value})


@database_sync_to_async
def _groups(user: Any) -> list[str]:
    return [conversation_group(cid) for cid in selectors.conversation_ids_of(user)]


async def conversation_groups(user: Any) -> list[str]:
    return await _groups(user)


def register() -> None:
    dispatch.register_action("message.send", message_send)
    dispatch.register_action("typing", typing)
    dispatch.register_action("read", read)
    dispatch.register_groups(conversation_groups)
