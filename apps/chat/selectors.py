"""Chat reads. Every read starts from the caller's active memberships: a conversation you
are not in (or another network's) does not exist.

The conversation list is one query with the unread count computed in SQL
(``last_message_seq − last_read_seq``), plus three fixed queries per page: the
last messages, the direct partners, the caller's member rows.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from .models import Conversation, ConversationMember, Message, ReadCursor
from .payloads import conversation_payload, message_payloads, user_ref

MAX_PAGE = 200
DEFAULT_PAGE = 50


def _membership(user: Any, *, ref: str = "pk") -> Exists:
    """EXISTS an active member row of ``user`` for the outer row's conversation (``ref``)."""
    return Exists(
        ConversationMember.objects.filter(conversation=OuterRef(ref), user_id=user.pk, left_at__isnull=True)
    )


def user_conversations(qs: QuerySet[Conversation], *, user: Any) -> QuerySet[Conversation]:
    """The caller's conversations with ``unread_count`` and ``my_last_read_seq`` annotated."""
    cursor = ReadCursor.objects.filter(conversation=OuterRef("pk"), user_id=user.pk).values("last_read_seq")[
        :1
    ]
    return (
        qs.filter(_membership(user))
        .annotate(my_last_read_seq=Coalesce(Subquery(cursor, output_field=IntegerField()), Value(0)))
        .annotate(unread_count=Greatest(F("last_message_seq") - F("my_last_read_seq"), Value(0)))
    )


def conversation_page_payloads(conversations: list[Conversation], *, user: Any) -> list[dict[str, Any]]:
    """Payloads for one page: last messages, direct partners and own member rows, one query each."""
    ids = [c.pk for c in conversations]
    if not ids:
        return []
    last = {
        m.conversation_id: m
        for m in Message.objects.filter(conversation_id__in=ids, seq=F("conversation__last_message_seq"))
        .select_related("sender")
        .order_by()
    }
    last_payloads = dict(zip(last, message_payloads(list(last.values())), strict=True))
    direct_ids = [c.pk for c in conversations if c.kind == Conversation.Kind.DIRECT]
    partners: dict[Any, Any] = {}
    if direct_ids:
        for member in (
            ConversationMember.objects.filter(conversation_id__in=direct_ids)
            .exclude(user_id=user.pk)
            .select_related("user")
        ):
            partners[member.conversation_id] = member.user
    mine = {
        m.conversation_id: m
        for m in ConversationMember.objects.filter(conversation_id__in=ids, user_id=user.pk)
    }
    return [
        conversation_payload(
            c,
            membership=mine.get(c.pk),
            last_message=last_payloads.get(c.pk),
            direct_with=partners.get(c.pk),
        )
        for c in conversations
    ]


def clamp_limit(value: Any, default: int = DEFAULT_PAGE) -> int:
    try:
        limit = int(value)
    except (TypeError, ValueError):
        return default
    return max(1, min(MAX_PAGE, limit))


def conversation_messages(
    *,
    conversation_id: Any,
    before_seq: int | None = None,
    after_seq: int | None = None,
    thread_root: Any = None,
    limit: int = DEFAULT_PAGE,
) -> tuple[list[Message], bool]:
    """A window of messages in ascending seq, and whether more exist in the paging direction.

    ``after_seq`` (catch-up / forward paging): the first ``limit`` messages after it.
    ``before_seq`` (history): the ``limit`` messages just before it. Neither: the latest.
    ``thread_root``: only that thread (root included). One query (+ the payload's two).
    """
    qs = Message.objects.filter(conversation_id=conversation_id).select_related("sender")
    if thread_root is not None:
        qs = qs.filter(Q(pk=thread_root) | Q(thread_root_id=thread_root))
    if after_seq is not None:
        qs = qs.filter(seq__gt=after_seq)
    if before_seq is not None:
        qs = qs.filter(seq__lt=before_seq)
    if after_seq is not None and before_seq is None:
        rows = list(qs.order_by("seq")[: limit + 1])
        return rows[:limit], len(rows) > limit
    rows = list(qs.order_by("-seq")[: limit + 1])
    more = len(rows) > limit
    return list(reversed(rows[:limit])), more


def visible_messages(qs: QuerySet[Message], *, user: Any) -> QuerySet[Message]:
    """Messages of conversations the user is an active member of."""
    return qs.filter(_membership(user, ref="conversation_id")).select_related("sender", "conversation")


def search_messages(
    *,
    user: Any,
    query: str,
    conversation_id: Any = None,
    limit: int = DEFAULT_PAGE,
    qs: QuerySet[Message] | None = None,
) -> list[Message]:
    """Full-text search (websearch syntax, english) over the caller's conversations, best first.

    ``qs``: the view's queryset (network, organization policy and ``visible_messages``
    applied); without it, the caller's network and memberships."""
    search = SearchQuery(query, search_type="websearch", config="english")
    if qs is None:
        qs = visible_messages(Message.objects.filter(network_id=user.network_id), user=user)
    qs = qs.filter(deleted_at__isnull=True, search_vector=search)
    if conversation_id is not None:
        qs = qs.filter(conversation_id=conversation_id)
    return list(
        qs.annotate(rank=SearchRank(F("search_vector"), search))
        .select_related("sender")
        .order_by("-rank", "-seq")[:limit]
    )


def active_members(*, conversation_id: Any) -> QuerySet[ConversationMember]:
    return (
        ConversationMember.objects.filter(conversation_id=conversation_id, left_at__isnull=True)
        .select_related("user")
        .order_by("joined_at", "id")
    )


def conversation_groups_of(user: Any) -> list[tuple[str, str | None]]:
    """(id, organization id or None) of the user's active conversations: the socket's groups."""
    rows = ConversationMember.objects.filter(
        user_id=user.pk, network_id=user.network_id, left_at__isnull=True
    ).values_list("conversation_id", "conversation__organization_id")
    return [(str(cid), str(org) if org else None) for cid, org in rows]


__all__ = [
    "active_members",
    "clamp_limit",
    "conversation_groups_of",
    "conversation_messages",
    "conversation_page_payloads",
    "search_messages",
    "user_conversations",
    "user_ref",
    "visible_messages",
]
