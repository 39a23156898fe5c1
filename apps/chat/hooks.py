"""Where a committed message reaches other domains: inbox + notifications, agents.

Called from the send's ``on_commit``. Mentions and direct messages become
inbox items (``deliver_inbox_item``, which also notifies) for members who
have no socket open; an agent
member that is mentioned or DM'd gets a run through
``apps.agents.services.request_agent_run`` when the agents app provides it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from apps.core.exceptions import DomainError
from apps.realtime.presence import connected_user_ids

from .models import Conversation, ConversationMember, Message

logger = logging.getLogger(__name__)


def _excerpt(text: str, limit: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wants(member: ConversationMember, *, mention: bool) -> bool:
    if member.notify == ConversationMember.Notify.NONE:
        return False
    if member.notify == ConversationMember.Notify.MENTIONS and not mention:
        return False
    return not (member.muted_until and member.muted_until > timezone.now())


def recipients(message: Message, conversation: Conversation) -> list[tuple[ConversationMember, str]]:
    """(member, inbox kind) for each member this message should reach through the inbox."""
    mentioned = {str(uid) for uid in message.mentioned_user_ids or []}
    if conversation.kind != Conversation.Kind.DIRECT and not mentioned:
        return []
    members = ConversationMember.objects.filter(
        conversation_id=conversation.pk, left_at__isnull=True
    ).select_related("user")
    if conversation.kind != Conversation.Kind.DIRECT:
        members = members.filter(user_id__in=list(mentioned))
    out: list[tuple[ConversationMember, str]] = []
    for member in members.exclude(user_id=message.sender_id):
        is_mention = str(member.user_id) in mentioned
        kind = "mention" if is_mention else "direct_message"
        if _wants(member, mention=is_mention or conversation.kind == Conversation.Kind.DIRECT):
            out.append((member, kind))
    return out


def message_committed(message: Message, conversation: Conversation) -> None:
    """Inbox items + notify for absent members, then agent runs (after the broadcast)."""
    targets = recipients(message, conversation)
    if not targets:
        return
    from apps.inbox.services import deliver_inbox_item  # also notifies (push/email per settings)

    humans = [(m, k) for m, k in targets if not m.user.is_ai]
    online = connected_user_ids(m.user_id for m, _ in humans)
    sender = message.sender
    who = (sender.display_name or sender.handle) if sender else "Someone"
    url = f"/chat/#/c/{conversation.pk}/{message.seq}"
    for member, kind in humans:
        if str(member.user_id) in online:
            continue
        title = f"{who} mentioned you" if kind == "mention" else f"{who} sent you a message"
        data = {"conversation_id": str(conversation.pk), "message_id": str(message.pk), "seq": message.seq}
        deliver_inbox_item(
            recipient=member.user,
            kind=kind,
            target_type="chat.message" if kind == "mention" else "chat.conversation",
            target_id=message.pk if kind == "mention" else conversation.pk,
            actor=sender,
            title=title,
            body=_excerpt(message.body),
            target_url=url,
            data=data,
        )
    for member, kind in targets:
        if member.user.is_ai:
            try:
                request_agent_run(agent=member.user, trigger=kind, conversation=conversation, message=message)
            except DomainError as exc:  # a paused agent, an over-budget one: the message stands
                logger.info("chat: no run for agent %s: %s", member.user_id, exc.message)


def request_agent_run(*, agent: Any, trigger: str, conversation: Conversation, message: Message) -> bool:
    """The one hook point into apps/agents; a no-op (False) until it provides ``request_agent_run``."""
    try:
        from apps.agents import services as agent_services
    except ImportError:
        return False
    run = getattr(agent_services, "request_agent_run", None)
    if run is None:
        return False
    run(agent=agent, trigger=trigger, conversation=conversation, message=message)
    return True
