"""The JSON shapes of chat rows, shared by the REST serializers and the socket events.

Plain dicts of JSON types (the channel layer carries msgpack: no UUID or
datetime objects). The REST serializers in ``api.py`` declare the same fields
for the schema and delegate here, so a socket frame and a REST body of the
same message are identical.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, Min

from .models import Conversation, Message, MessageReaction

#: reacting user ids listed per emoji (the count is always exact)
REACTION_USERS_SHOWN = 25


def user_ref(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    avatar = getattr(user, "avatar", None)
    return {
        "id": str(user.pk),
        "handle": user.handle,
        "display_name": user.display_name,
        "is_ai": bool(user.is_ai),
        "avatar_url": avatar.url if avatar else None,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def reaction_summaries(message_ids: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
    """message id → ``[{emoji, count, user_ids}]`` in first-reacted order: one query."""
    ids = list(message_ids)
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if not ids:
        return out
    rows = (
        MessageReaction.objects.filter(message_id__in=ids)
        .values("message_id", "emoji")
        .annotate(count=Count("id"), user_ids=ArrayAgg("user_id", order_by="id"), first=Min("created_at"))
        .order_by("message_id")
    )
    for row in sorted(rows, key=lambda r: r["first"]):
        out[row["message_id"]].append(
            {
                "emoji": row["emoji"],
                "count": row["count"],
                "user_ids": [str(u) for u in row["user_ids"][:REACTION_USERS_SHOWN]],
            }
        )
    return out


def media_payloads(message_ids: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
    """message id → media descriptors (one query)."""
    from .media import media_by_message  # media imports the models this module serialises

    return media_by_message(list(message_ids))


def message_payload(
    message: Message,
    *,
    reactions: list[dict[str, Any]] | None = None,
    media: list[dict[str, Any]] | None = None,
    with_history: bool = False,
) -> dict[str, Any]:
    deleted = message.deleted_at is not None
    data: dict[str, Any] = {
        "id": str(message.pk),
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "kind": message.kind,
        "sender": user_ref(message.sender) if message.sender_id else None,
        "body": "" if deleted else message.body,
        "body_html": "" if deleted else message.body_html,
        "reply_to_id": _str(message.reply_to_id),
        "thread_root_id": _str(message.thread_root_id),
        "reply_count": message.reply_count,
        "last_reply_at": _iso(message.last_reply_at),
        "client_id": _str(message.client_id),
        "mentioned_user_ids": [str(u) for u in (message.mentioned_user_ids or [])],
        "edit_count": len(message.edit_history or []),
        "edited_at": _iso(message.edited_at),
        "deleted_at": _iso(message.deleted_at),
        "created_at": _iso(message.created_at),
        "reactions": [] if deleted else (reactions or []),
        "media": [] if deleted else (media or []),
    }
    if with_history:
        data["edit_history"] = [] if deleted else list(message.edit_history or [])
    return data


def message_payloads(messages: list[Message]) -> list[dict[str, Any]]:
    """Payloads for a page of messages: reactions and media in one query each."""
    ids = [m.pk for m in messages]
    reactions = reaction_summaries(ids)
    media = media_payloads(ids)
    return [message_payload(m, reactions=reactions.get(m.pk), media=media.get(m.pk)) for m in messages]


def conversation_payload(
    conversation: Conversation,
    *,
    membership: Any = None,
    last_read_seq: int | None = None,
    last_message: dict[str, Any] | None = None,
    direct_with: Any = None,
) -> dict[str, Any]:
    unread = getattr(conversation, "unread_count", None)
    if unread is None and last_read_seq is not None:
        unread = max(0, conversation.last_message_seq - last_read_seq)
    if last_read_seq is None:
        last_read_seq = getattr(conversation, "my_last_read_seq", None)
    return {
        "id": str(conversation.pk),
        "kind": conversation.kind,
        "title": conversation.title,
        "topic": conversation.topic,
        "project_id": _str(conversation.project_id),
        "community_id": _str(conversation.community_id),
        "direct_with": user_ref(direct_with) if direct_with is not None else None,
        "member_count": conversation.member_count,
        "last_message_seq": conversation.last_message_seq,
        "last_message_at": _iso(conversation.last_message_at),
        "last_message": last_message,
        "last_read_seq": last_read_seq or 0,
        "unread_count": unread or 0,
        "my_role": getattr(membership, "role", None),
        "notify": getattr(membership, "notify", None),
        "muted_until": _iso(getattr(membership, "muted_until", None)),
        "archived_at": _iso(conversation.archived_at),
        "created_at": _iso(conversation.created_at),
    }


def member_payload(member: Any) -> dict[str, Any]:
    return {
        "id": str(member.pk),
        "conversation_id": str(member.conversation_id),
        "user": user_ref(member.user),
        "role": member.role,
        "notify": member.notify,
        "muted_until": _iso(member.muted_until),
        "joined_at": _iso(member.joined_at),
        "left_at": _iso(member.left_at),
        "added_by_id": _str(member.added_by_id),
    }
