"""Shared by the chat services: membership checks, payloads."""

from __future__ import annotations

from typing import Any

from apps.core.exceptions import NotFound

from ..models import Conversation, ConversationMember
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
