"""Messages: send, edit, delete, react, typing — the same functions for REST, the socket and agents.

``send_message``:
1. membership (404 otherwise), size (``CHAT_MESSAGE_MAX_CHARS``), direct
   conversations refuse a blocked pair;
2. a ``client_id`` already stored for (conversation, sender) returns that
   message (``created=False``) and broadcasts nothing;
3. the sender's token bucket (burst ``CHAT_SEND_BURST``, then
   ``CHAT_SEND_PER_SECOND``) → ``RateLimited`` (429 / ``error`` frame);
4. one transaction: ``UPDATE chat_conversation SET last_message_seq =
   last_message_seq + 1 … RETURNING`` takes the next seq under the row lock
   (concurrent sends queue there, so seqs are gap-free), the insert, the
   thread root's counters, the sender's read cursor. A concurrent retry with
   the same ``client_id`` fails the insert on the unique index; its whole
   transaction (seq included) rolls back and the stored message is returned;
5. on commit: ``message.created`` to ``conv.<id>``, then inbox/notify for
   absent mentioned or DM'd members and agent runs (``apps.chat.hooks``).

Edits keep the previous bodies (last ``CHAT_EDIT_HISTORY_MAX``); only the
sender edits. Delete is soft (a tombstone keeps seq and thread), by the sender
or a conversation admin. Reactions: ≤ ``CHAT_REACTIONS_MAX_DISTINCT`` distinct
emoji per message (checked under the message's row lock); adding or removing
twice is a no-op.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from apps.core.exceptions import InvalidState, NotFound, PermissionDenied, RateLimited, ValidationFailed
from apps.core.ids import uuid7
from apps.core.markdown import mentioned_handles, render_markdown
from apps.core.ratelimit import take_token
from apps.core.redis import get_redis, key
from apps.realtime.services import broadcast

from .. import hooks
from ..media import attach_media, detach_media, media_payload
from ..models import Conversation, ConversationMember, Message, MessageReaction, conversation_group
from ..payloads import message_payload, reaction_summaries
from ._common import active_member, ensure_member
from .conversations import _blocked_either_way, direct_peer_id

MAX_EMOJI_LENGTH = 64


def _max_chars() -> int:
    return int(settings.CHAT_MESSAGE_MAX_CHARS)


def _clean_body(body: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(body, str):
        raise ValidationFailed("The message body must be text.", field="body")
    if "\x00" in body:
        raise ValidationFailed("The message body contains a NUL character.", field="body")
    if len(body) > _max_chars():
        raise ValidationFailed(
            f"A message is at most {_max_chars()} characters.", field="body", code="message_too_long"
        )
    if not body.strip() and not allow_empty:
        raise ValidationFailed("The message is empty.", field="body", code="blank")
    return body


def _clean_client_id(client_id: Any) -> uuid.UUID | None:
    if client_id in (None, ""):
        return None
    if isinstance(client_id, uuid.UUID):
        return client_id
    try:
        return uuid.UUID(str(client_id))
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed("client_id must be a UUID.", field="client_id") from None


def _mentions(conversation_id: Any, body: str, *, sender_id: Any) -> list[str]:
    handles = mentioned_handles(body)
    if not handles:
        return []
    ids = ConversationMember.objects.filter(
        conversation_id=conversation_id, left_at__isnull=True, user__handle__in=handles
    ).values_list("user_id", flat=True)
    return [str(uid) for uid in ids if uid != sender_id]


def _check_rate(actor: Any) -> None:
    allowed, wait = take_token(
        f"chat-send:{actor.pk}",
        capacity=int(settings.CHAT_SEND_BURST),
        per_second=float(settings.CHAT_SEND_PER_SECOND),
    )
    if not allowed:
        raise RateLimited("You are sending messages too fast.", retry_after=max(1, round(wait + 0.499)))


def _next_seq(conversation_id: Any, now: Any) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chat_conversation SET last_message_seq = last_message_seq + 1, last_message_at = %s "
            "WHERE id = %s AND archived_at IS NULL RETURNING last_message_seq",
            [now, conversation_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise InvalidState("This conversation is archived.", code="conversation_archived")
    return int(row[0])


def _advance_sender_cursor(message: Message) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO chat_readcursor (id, network_id, conversation_id, user_id, last_read_seq,
                                         last_read_at, created_at, updated_at)
            VALUES (%s, %s, %s, %s, %s, now(), now(), now())
            ON CONFLICT (conversation_id, user_id) DO UPDATE
               SET last_read_seq = GREATEST(chat_readcursor.last_read_seq, EXCLUDED.last_read_seq),
                   last_read_at = now(), updated_at = now()
            """,
            [uuid7(), message.network_id, message.conversation_id, message.sender_id, message.seq],
        )


def _member_and_stored(
    conversation: Conversation | Any, actor: Any, client_id: uuid.UUID | None
) -> tuple[ConversationMember, Any]:
    """The sender's active membership (404 otherwise) and, in the same query, the id of the message
    already stored under ``client_id`` (None when there is none)."""
    if client_id is None:
        return active_member(conversation, actor), None
    member = (
        ConversationMember.objects.filter(
            conversation_id=getattr(conversation, "pk", conversation),
            user_id=getattr(actor, "pk", None),
            network_id=getattr(actor, "network_id", None),
            left_at__isnull=True,
        )
        .select_related("conversation")
        .annotate(
            stored_id=Subquery(
                Message.objects.filter(
                    conversation_id=OuterRef("conversation_id"), sender_id=actor.pk, client_id=client_id
                ).values("pk")[:1]
            )
        )
        .first()
    )
    if member is None:
        raise NotFound()
    return member, member.stored_id


def _stored(conversation_id: Any, sender_id: Any, client_id: uuid.UUID) -> Message | None:
    return (
        Message.objects.filter(conversation_id=conversation_id, sender_id=sender_id, client_id=client_id)
        .select_related("sender")
        .first()
    )


def _parent(conversation_id: Any, reply_to: Any) -> Message | None:
    if reply_to is None:
        return None
    parent_id = getattr(reply_to, "pk", reply_to)
    parent = Message.objects.filter(pk=parent_id, conversation_id=conversation_id).first()
    if parent is None:
        raise ValidationFailed("The message replied to is not in this conversation.", field="reply_to")
    if parent.deleted_at is not None:
        raise ValidationFailed("You cannot reply to a deleted message.", field="reply_to")
    return parent


def send_message(
    *,
    actor: Any,
    conversation: Conversation | Any,
    body: str,
    client_id: Any = None,
    reply_to: Message | Any = None,
    media: list[Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Message:
    """Store and broadcast a message; ``message.created_now`` says whether it is new.

    A new message carries ``message.payload``: its JSON shape, built once for the
    broadcast and the sender's answer (no query: a new message has no reactions yet).
    """
    try:
        client_id = _clean_client_id(client_id)
        bad_client_id = None
    except ValidationFailed as exc:  # answered after the membership check, as before
        client_id, bad_client_id = None, exc
    member, stored_id = _member_and_stored(conversation, actor, client_id)
    conversation = member.conversation
    body = _clean_body(body, allow_empty=bool(media))
    if bad_client_id is not None:
        raise bad_client_id
    if stored_id is not None:
        existing = _stored(conversation.pk, actor.pk, client_id)
        if existing is not None:
            existing.created_now = False
            return existing
    if conversation.kind == Conversation.Kind.DIRECT:
        peer = direct_peer_id(conversation, actor)
        if peer and _blocked_either_way(actor.pk, peer):
            raise PermissionDenied("You cannot message this user.", code="dm_refused")
    parent = _parent(conversation.pk, reply_to)
    _check_rate(actor)
    mentions = _mentions(conversation.pk, body, sender_id=actor.pk)
    body_html = render_markdown(body)
    try:
        with transaction.atomic():
            now = timezone.now()
            seq = _next_seq(conversation.pk, now)
            message = Message(
                network_id=conversation.network_id,
                conversation_id=conversation.pk,
                sender=actor,
                kind=Message.Kind.USER,
                seq=seq,
                body=body,
                body_html=body_html,
                reply_to=parent,
                thread_root_id=(parent.thread_root_id or parent.pk) if parent else None,
                client_id=client_id,
                mentioned_user_ids=mentions,
                metadata=metadata or {},
            )
            message.save(force_insert=True)
            if parent is not None:
                Message.objects.filter(pk=message.thread_root_id).update(
                    reply_count=F("reply_count") + 1, last_reply_at=now
                )
            _advance_sender_cursor(message)
            attached = attach_media(message=message, uploads=media, actor=actor) if media else []
            conversation.last_message_seq = seq
            conversation.last_message_at = now
            message.payload = message_payload(message, media=[media_payload(m) for m in attached])
            _on_commit_created(message, conversation)
    except IntegrityError:
        if client_id is None:
            raise
        existing = _stored(conversation.pk, actor.pk, client_id)
        if existing is None:
            raise
        existing.created_now = False
        return existing
    message.created_now = True
    return message


def _on_commit_created(message: Message, conversation: Conversation) -> None:
    def after() -> None:
        payload = {
            "type": "message.created",
            "conversation_id": str(conversation.pk),
            "message": message.payload,
        }
        broadcast(conversation_group(conversation.pk), payload, organization_id=conversation.organization_id)
        if message.thread_root_id:
            root = (
                Message.objects.filter(pk=message.thread_root_id)
                .values("reply_count", "last_reply_at")
                .first()
            )
            if root:
                broadcast(
                    conversation_group(conversation.pk),
                    {
                        "type": "thread.updated",
                        "conversation_id": str(conversation.pk),
                        "message_id": str(message.thread_root_id),
                        "reply_count": root["reply_count"],
                        "last_reply_at": root["last_reply_at"].isoformat() if root["last_reply_at"] else None,
                    },
                    organization_id=conversation.organization_id,
                )
        hooks.message_committed(message, conversation)

    # robust: the message is committed; a failing fan-out is logged, never turned into an error
    transaction.on_commit(after, robust=True)


def _locked_message(message: Message | Any) -> Message:
    message_id = getattr(message, "pk", message)
    found = (
        Message.objects.select_for_update(of=("self",)).select_related("sender").filter(pk=message_id).first()
    )
    if found is None:
        raise NotFound()
    return found


def _updated_event(message: Message, kind: str, *, organization_id: Any) -> None:
    def after() -> None:
        reactions = reaction_summaries([message.pk]).get(message.pk)
        broadcast(
            conversation_group(message.conversation_id),
            {
                "type": kind,
                "conversation_id": str(message.conversation_id),
                "message": message_payload(message, reactions=reactions),
            },
            organization_id=organization_id,
        )

    transaction.on_commit(after)


@transaction.atomic
def edit_message(*, actor: Any, message: Message, body: str) -> Message:
    organization_id = ensure_member(message.conversation, actor).conversation.organization_id
    body = _clean_body(body)
    message = _locked_message(message)
    if message.sender_id != actor.pk or message.kind != Message.Kind.USER:
        raise PermissionDenied("Only the sender can edit a message.", code="not_your_message")
    if message.deleted_at is not None:
        raise InvalidState("A deleted message cannot be edited.")
    if body == message.body:
        return message
    now = timezone.now()
    history = list(message.edit_history or [])
    history.append({"body": message.body, "edited_at": (message.edited_at or message.created_at).isoformat()})
    message.edit_history = history[-int(settings.CHAT_EDIT_HISTORY_MAX) :]
    message.body = body
    message.body_html = render_markdown(body)
    message.mentioned_user_ids = _mentions(message.conversation_id, body, sender_id=actor.pk)
    message.edited_at = now
    message.save(
        update_fields=["body", "body_html", "edit_history", "mentioned_user_ids", "edited_at", "updated_at"]
    )
    _updated_event(message, "message.updated", organization_id=organization_id)
    return message


@transaction.atomic
def delete_message(*, actor: Any, message: Message) -> Message:
    """Soft delete by the sender or a conversation admin (staff through the admin: ``actor=None`` allowed
    only with ``moderator=True`` via ``moderate_delete_message``)."""
    member = ensure_member(message.conversation, actor)
    message = _locked_message(message)
    if message.sender_id != actor.pk and not member.is_admin:
        raise PermissionDenied(
            "Only the sender or a conversation admin can delete it.", code="not_your_message"
        )
    return _tombstone(message, organization_id=member.conversation.organization_id)


def _tombstone(message: Message, *, organization_id: Any) -> Message:
    if message.deleted_at is not None:
        return message
    now = timezone.now()
    message.deleted_at = now
    message.body = ""
    message.body_html = ""
    message.edit_history = []
    message.mentioned_user_ids = []
    message.save(
        update_fields=["deleted_at", "body", "body_html", "edit_history", "mentioned_user_ids", "updated_at"]
    )
    MessageReaction.objects.filter(message=message).delete()
    detach_media(message=message)
    _updated_event(message, "message.deleted", organization_id=organization_id)
    return message


@transaction.atomic
def moderate_delete_message(*, actor: Any, message: Message) -> Message:
    """Staff (Django admin) deletion of a reported message: audited, same tombstone."""
    from apps.core.audit import record

    message = _locked_message(message)
    record(
        network=message.network_id,
        actor=actor,
        action="mod.message.deleted",
        target=message,
        data={"conversation_id": str(message.conversation_id), "seq": message.seq},
    )
    organization_id = (
        Conversation.objects.filter(pk=message.conversation_id)
        .values_list("organization_id", flat=True)
        .first()
    )
    return _tombstone(message, organization_id=organization_id)


# --- reactions -----------------------------------------------------------------------


def clean_emoji(emoji: Any) -> str:
    if not isinstance(emoji, str):
        raise ValidationFailed("An emoji is text.", field="emoji")
    emoji = unicodedata.normalize("NFC", emoji.strip())
    if not emoji or len(emoji) > MAX_EMOJI_LENGTH or any(ch.isspace() or ch == "\x00" for ch in emoji):
        raise ValidationFailed(f"An emoji is 1–{MAX_EMOJI_LENGTH} characters without spaces.", field="emoji")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in emoji):
        raise ValidationFailed("This is not an emoji.", field="emoji")
    return emoji


def _reaction_event(message: Message, kind: str, *, emoji: str, user_id: Any, organization_id: Any) -> None:
    def after() -> None:
        count = MessageReaction.objects.filter(message_id=message.pk, emoji=emoji).count()
        broadcast(
            conversation_group(message.conversation_id),
            {
                "type": kind,
                "conversation_id": str(message.conversation_id),
                "message_id": str(message.pk),
                "emoji": emoji,
                "user_id": str(user_id),
                "count": count,
            },
            organization_id=organization_id,
        )

    transaction.on_commit(after)


@transaction.atomic
def add_reaction(*, actor: Any, message: Message, emoji: str) -> bool:
    """React; True when added, False when it already was (no event)."""
    organization_id = ensure_member(message.conversation, actor).conversation.organization_id
    emoji = clean_emoji(emoji)
    message = _locked_message(message)  # serialises the distinct-emoji check
    if message.deleted_at is not None:
        raise InvalidState("A deleted message cannot get reactions.")
    existing = set(MessageReaction.objects.filter(message=message).values_list("emoji", flat=True).distinct())
    if emoji not in existing and len(existing) >= int(settings.CHAT_REACTIONS_MAX_DISTINCT):
        raise InvalidState(
            f"A message has at most {settings.CHAT_REACTIONS_MAX_DISTINCT} different reactions.",
            code="too_many_reactions",
        )
    _, created = MessageReaction.objects.get_or_create(
        message=message, user=actor, emoji=emoji, defaults={"network_id": message.network_id}
    )
    if created:
        _reaction_event(
            message, "reaction.added", emoji=emoji, user_id=actor.pk, organization_id=organization_id
        )
    return created


@transaction.atomic
def remove_reaction(*, actor: Any, message: Message, emoji: str) -> bool:
    organization_id = ensure_member(message.conversation, actor).conversation.organization_id
    emoji = clean_emoji(emoji)
    deleted, _ = MessageReaction.objects.filter(message=message, user=actor, emoji=emoji).delete()
    if deleted:
        _reaction_event(
            message, "reaction.removed", emoji=emoji, user_id=actor.pk, organization_id=organization_id
        )
    return bool(deleted)


# --- typing ------------------------------------------------------------------------


def send_typing(*, actor: Any, conversation: Conversation | Any) -> bool:
    """Broadcast ``typing`` (not stored) at most once per ``CHAT_TYPING_INTERVAL_SECONDS`` per user and
    conversation; returns whether it went out."""
    conversation_id = getattr(conversation, "pk", conversation)
    interval = int(settings.CHAT_TYPING_INTERVAL_SECONDS)
    if not get_redis().set(key("chat-typing", conversation_id, actor.pk), "1", nx=True, ex=interval):
        return False
    member = active_member(conversation_id, actor)
    broadcast(
        conversation_group(conversation_id),
        {
            "type": "typing",
            "conversation_id": str(conversation_id),
            "user_id": str(actor.pk),
            "handle": actor.handle,
            "expires_in": int(settings.CHAT_TYPING_EXPIRES_SECONDS),
        },
        organization_id=member.conversation.organization_id,
    )
    return True


__all__ = [
    "add_reaction",
    "clean_emoji",
    "delete_message",
    "edit_message",
    "moderate_delete_message",
    "remove_reaction",
    "send_message",
    "send_typing",
]
