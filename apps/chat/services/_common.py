"""Shared by the chat services: membership checks, payloads, on-commit broadcasts."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.exceptions import NotFound
from apps.realtime.services import broadcast

from ..models import Conversation, ConversationMember, conversation_group
from ..payloads import user_ref  # noqa: F401 — re-exported


def active_member(conversation: Conversation | Any, user: Any) -> ConversationMember:
    """The user's active membership, or 404 (a conversation you are not in does not exist)."""
    conversation_id = getattr(conversation, "pk", conversation)
    member = (
        ConversationMember.objects.filter(
            conversation_id=conversation_id,
            user_id=getattr(user, "pk", None),
            network_id=getattr(user, "network_id", None),
            left_at__isnull=True,
        )
        .select_related("conversation")
        .first()
    )
    if member is None:
        raise NotFound()
    return member


def ensure_member(conversation: Conversation, user: Any) -> ConversationMember:
    if conversation.network_id != getattr(user, "network_id", None):
        raise NotFound()
    return active_member(conversation, user)


def broadcast_on_commit(conversation_id: Any, payload: dict[str, Any]) -> None:
    group = conversation_group(conversation_id)
    transaction.on_commit(lambda: broadcast(group, payload))
