"""Conversations and their members.

* Direct: exactly one per pair of users (``direct_key`` = ``<min id>:<max id>``,
  unique), get-or-create; refused across a block (either way) and by the
  recipient's ``allow_dms_from`` (nobody; following = the recipient follows the
  sender). Its two members are fixed.
* Group: created by its owner; admins add and remove members (≤
  ``CHAT_GROUP_MAX_MEMBERS`` active); anyone may leave (an owner who leaves
  hands ownership to the longest-standing admin, else member).
* Channel: tied to a project (and a community once apps/social has them); its
  membership follows the parent (``apps.chat.channels``) and is changed only by
  ``sync_channel_members``.

Lock order: the conversation row, then member rows. Membership changes move
sockets on commit (``realtime.join`` / ``realtime.leave`` to ``user.<id>``) and
broadcast ``conversation.member_added|removed`` to the conversation.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, NotFound, PermissionDenied, ValidationFailed
from apps.core.ids import uuid7
from apps.realtime.services import broadcast, join_group, leave_group

from .. import channels
from ..models import Conversation, ConversationMember, MemberRole, ReadCursor, conversation_group
from ..payloads import member_payload
from ._common import active_member, ensure_member

Kind = Conversation.Kind


def direct_key(a: Any, b: Any) -> str:
    low, high = sorted([str(a), str(b)])
    return f"{low}:{high}"


# --- DM policy ----------------------------------------------------------------------


def _blocked_either_way(a_id: Any, b_id: Any) -> bool:
    from apps.social.selectors import has_blocked

    return has_blocked(blocker_id=a_id, blocked_id=b_id) or has_blocked(blocker_id=b_id, blocked_id=a_id)


def _follows(follower_id: Any, followee_id: Any) -> bool:
    """Whether ``follower`` follows ``followee`` (False while apps/social has no Follow model)."""
    from django.apps import apps as django_apps

    try:
        follow = django_apps.get_model("social", "Follow")
    except LookupError:
        return False
    return follow.objects.filter(follower_id=follower_id, followee_user_id=followee_id).exists()


def check_can_dm(*, sender: Any, recipient: Any) -> None:
    """Raise ``PermissionDenied('dm_refused')`` when ``sender`` may not message ``recipient``."""
    if _blocked_either_way(sender.pk, recipient.pk):
        raise PermissionDenied("You cannot message this user.", code="dm_refused")
    from apps.preferences.selectors import user_settings

    allowed = user_settings(user=recipient).allow_dms_from
    if allowed == "nobody" or (allowed == "following" and not _follows(recipient.pk, sender.pk)):
        raise PermissionDenied("This user does not accept direct messages from you.", code="dm_refused")


def direct_peer_id(conversation: Conversation, user: Any) -> str | None:
    if not conversation.direct_key:
        return None
    low, _, high = conversation.direct_key.partition(":")
    return high if low == str(user.pk) else low


# --- creation -----------------------------------------------------------------------


def _add_rows(conversation: Conversation, users_roles: dict[Any, str], *, added_by: Any) -> list[Any]:
    """Insert or reactivate members (the conversation row is locked by the caller); returns user ids."""
    now = timezone.now()
    existing = {
        m.user_id: m
        for m in ConversationMember.objects.filter(conversation=conversation, user_id__in=users_roles)
    }
    added: list[Any] = []
    new_rows = []
    for user_id, role in users_roles.items():
        row = existing.get(user_id)
        if row is None:
            new_rows.append(
                ConversationMember(
                    network_id=conversation.network_id,
                    conversation=conversation,
                    user_id=user_id,
                    role=role,
                    joined_at=now,
                    added_by_id=getattr(added_by, "pk", None),
                )
            )
            added.append(user_id)
        elif row.left_at is not None:
            row.left_at = None
            row.role = role
            row.joined_at = now
            row.added_by_id = getattr(added_by, "pk", None)
            row.save(update_fields=["left_at", "role", "joined_at", "added_by", "updated_at"])
            added.append(user_id)
        elif row.role != role and conversation.kind == Kind.CHANNEL:
            row.role = role
            row.save(update_fields=["role", "updated_at"])
    ConversationMember.objects.bulk_create(new_rows)
    if added:
        # a (re)joining member starts with everything before now read
        for user_id in added:
            ReadCursor.objects.update_or_create(
                conversation=conversation,
                user_id=user_id,
                defaults={"last_read_seq": conversation.last_message_seq, "last_read_at": now},
                create_defaults={
                    "network_id": conversation.network_id,
                    "last_read_seq": conversation.last_message_seq,
                    "last_read_at": now,
                },
            )
        Conversation.objects.filter(pk=conversation.pk).update(member_count=F("member_count") + len(added))
        conversation.member_count += len(added)
    return added


def _announce_added(conversation: Conversation, user_ids: list[Any], *, actor: Any) -> None:
    if not user_ids:
        return
    group = conversation_group(conversation.pk)
    members = list(
        ConversationMember.objects.filter(conversation=conversation, user_id__in=user_ids).select_related(
            "user"
        )
    )
    payloads = [member_payload(m) for m in members]
    conversation_id = str(conversation.pk)
    actor_id = str(actor.pk) if getattr(actor, "pk", None) else None
    organization_id = conversation.organization_id

    def send() -> None:
        for payload in payloads:
            event = {
                "type": "conversation.member_added",
                "conversation_id": conversation_id,
                "member": payload,
                "actor_id": actor_id,
            }
            broadcast(group, event, organization_id=organization_id)
            join_group(payload["user"]["id"], group, event, organization_id=organization_id)

    transaction.on_commit(send)


def _announce_removed(conversation: Conversation, user_ids: list[Any], *, actor: Any) -> None:
    if not user_ids:
        return
    group = conversation_group(conversation.pk)
    conversation_id = str(conversation.pk)
    actor_id = str(actor.pk) if getattr(actor, "pk", None) else None
    organization_id = conversation.organization_id

    def send() -> None:
        for user_id in user_ids:
            event = {
                "type": "conversation.member_removed",
                "conversation_id": conversation_id,
                "user_id": str(user_id),
                "actor_id": actor_id,
            }
            leave_group(str(user_id), group, event)
            broadcast(group, event, organization_id=organization_id)

    transaction.on_commit(send)


def get_or_create_direct(*, actor: Any, other: Any) -> tuple[Conversation, bool]:
    """The one direct conversation of ``actor`` and ``other``; created on first use."""
    ensure_same_network(actor.network_id, other)
    if other.pk == actor.pk:
        raise ValidationFailed("You cannot start a conversation with yourself.", field="user_id")
    if not other.is_active or getattr(other, "state", "active") != "active":
        raise NotFound()
    key = direct_key(actor.pk, other.pk)
    existing = Conversation.objects.filter(network_id=actor.network_id, direct_key=key).first()
    check_can_dm(sender=actor, recipient=other)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                network_id=actor.network_id,
                kind=Kind.DIRECT,
                direct_key=key,
                created_by=actor,
                last_message_at=timezone.now(),
            )
            added = _add_rows(
                conversation, {actor.pk: MemberRole.MEMBER, other.pk: MemberRole.MEMBER}, added_by=actor
            )
            _announce_added(conversation, added, actor=actor)
    except IntegrityError:
        # a concurrent first message created it: use that one
        return Conversation.objects.get(network_id=actor.network_id, direct_key=key), False
    return conversation, True


def _group_limit() -> int:
    return int(settings.CHAT_GROUP_MAX_MEMBERS)


@transaction.atomic
def create_group(
    *, actor: Any, title: str = "", topic: str | None = None, members: list[Any] = ()
) -> Conversation:
    others = {m.pk: m for m in members if m.pk != actor.pk}
    for user in others.values():
        ensure_same_network(actor.network_id, user)
    if len(others) + 1 > _group_limit():
        raise ValidationFailed(
            f"A group has at most {_group_limit()} members.", code="too_many_members", field="member_ids"
        )
    conversation = Conversation.objects.create(
        network_id=actor.network_id,
        kind=Kind.GROUP,
        title=title or None,
        topic=topic or None,
        created_by=actor,
        last_message_at=timezone.now(),
    )
    roles = {actor.pk: MemberRole.OWNER, **{uid: MemberRole.MEMBER for uid in others}}
    added = _add_rows(conversation, roles, added_by=actor)
    _announce_added(conversation, added, actor=actor)
    return conversation


@transaction.atomic
def create_channel(*, actor: Any, project: Any, title: str, topic: str | None = None) -> Conversation:
    """A project's channel; needs maintain on the project. Members follow project access."""
    from apps.projects import permissions as project_permissions

    ensure_same_network(actor.network_id, project)
    project_permissions.require(actor, project, "project.edit")
    conversation = Conversation.objects.create(
        network_id=actor.network_id,
        kind=Kind.CHANNEL,
        project=project,
        organization_id=project.owner_organization_id,
        title=title or project.name,
        topic=topic or None,
        created_by=actor,
        last_message_at=timezone.now(),
    )
    _sync(conversation, actor=actor)
    conversation.refresh_from_db(fields=["member_count"])
    return conversation


@transaction.atomic
def create_community_channel(
    *, actor: Any, community: Any, title: str, topic: str | None = None
) -> Conversation:
    """A community's channel; its owners and moderators create it. Members follow the community's."""
    ensure_same_network(actor.network_id, community)
    role = channels.community_member_roles(community.pk).get(actor.pk)
    if role != MemberRole.ADMIN:
        raise PermissionDenied(
            "Only the community's owners and moderators create its channels.", code="not_community_moderator"
        )
    conversation = Conversation.objects.create(
        network_id=actor.network_id,
        kind=Kind.CHANNEL,
        community=community,
        organization_id=community.owner_organization_id,
        title=title or community.name,
        topic=topic or None,
        created_by=actor,
        last_message_at=timezone.now(),
    )
    _sync(conversation, actor=actor)
    conversation.refresh_from_db(fields=["member_count"])
    return conversation


@transaction.atomic
def update_conversation(*, actor: Any, conversation: Conversation, **changes: Any) -> Conversation:
    member = ensure_member(conversation, actor)
    if conversation.kind == Kind.DIRECT:
        raise InvalidState("A direct conversation has no title or topic.")
    if not member.is_admin:
        raise PermissionDenied("Only conversation admins can change it.", code="not_conversation_admin")
    fields = [name for name in ("title", "topic") if name in changes]
    for name in fields:
        setattr(conversation, name, changes[name] or None)
    if fields:
        conversation.save(update_fields=[*fields, "updated_at"])
        payload = {
            "type": "conversation.updated",
            "conversation_id": str(conversation.pk),
            "title": conversation.title,
            "topic": conversation.topic,
        }
        group = conversation_group(conversation.pk)
        organization_id = conversation.organization_id
        transaction.on_commit(lambda: broadcast(group, payload, organization_id=organization_id))
    return conversation


# --- members ------------------------------------------------------------------------


def _lock(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)


@transaction.atomic
def add_members(*, actor: Any, conversation: Conversation, users: list[Any]) -> list[ConversationMember]:
    member = ensure_member(conversation, actor)
    if conversation.kind != Kind.GROUP:
        raise InvalidState(
            "Members of direct conversations are fixed; a channel's follow its project or community.",
            code="membership_managed",
        )
    if not member.is_admin:
        raise PermissionDenied("Only conversation admins can add members.", code="not_conversation_admin")
    for user in users:
        ensure_same_network(actor.network_id, user)
        if not user.is_active:
            raise ValidationFailed("This user cannot be added.", field="user_ids")
    conversation = _lock(conversation)
    active = set(
        ConversationMember.objects.filter(conversation=conversation, left_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    new = {u.pk: MemberRole.MEMBER for u in users if u.pk not in active}
    if len(active) + len(new) > _group_limit():
        raise ValidationFailed(
            f"A group has at most {_group_limit()} members.", code="too_many_members", field="user_ids"
        )
    added = _add_rows(conversation, new, added_by=actor)
    _announce_added(conversation, added, actor=actor)
    return list(
        ConversationMember.objects.filter(conversation=conversation, user_id__in=[u.pk for u in users])
        .select_related("user")
        .order_by("joined_at", "id")
    )


def _deactivate(conversation: Conversation, user_ids: list[Any]) -> list[Any]:
    if not user_ids:
        return []
    now = timezone.now()
    gone = list(
        ConversationMember.objects.filter(
            conversation=conversation, user_id__in=user_ids, left_at__isnull=True
        ).values_list("user_id", flat=True)
    )
    if gone:
        ConversationMember.objects.filter(conversation=conversation, user_id__in=gone).update(
            left_at=now, updated_at=now
        )
        Conversation.objects.filter(pk=conversation.pk).update(member_count=F("member_count") - len(gone))
        conversation.member_count -= len(gone)
    return gone


@transaction.atomic
def remove_member(*, actor: Any, member: ConversationMember) -> None:
    """Leave (your own row) or remove someone (a conversation admin; only the owner removes admins)."""
    conversation = _lock(member.conversation)
    mine = ensure_member(conversation, actor)
    member = ConversationMember.objects.select_for_update().get(pk=member.pk)
    if member.left_at is not None:
        return
    if conversation.kind == Kind.DIRECT:
        raise InvalidState("You cannot leave a direct conversation.", code="membership_managed")
    if conversation.kind == Kind.CHANNEL:
        raise InvalidState("A channel's members follow its project or community.", code="membership_managed")
    if member.user_id != actor.pk:
        if not mine.is_admin:
            raise PermissionDenied(
                "Only conversation admins can remove members.", code="not_conversation_admin"
            )
        if member.is_admin and mine.role != MemberRole.OWNER:
            raise PermissionDenied("Only the owner can remove an admin.", code="not_conversation_owner")
    gone = _deactivate(conversation, [member.user_id])
    if member.role == MemberRole.OWNER:
        remaining = ConversationMember.objects.filter(conversation=conversation, left_at__isnull=True)
        heir = (
            remaining.filter(role=MemberRole.ADMIN).order_by("joined_at", "id").first()
            or remaining.order_by("joined_at", "id").first()
        )
        if heir is not None:
            heir.role = MemberRole.OWNER
            heir.save(update_fields=["role", "updated_at"])
    _announce_removed(conversation, gone, actor=actor)


@transaction.atomic
def update_member(
    *,
    actor: Any,
    member: ConversationMember,
    role: str | None = None,
    notify: str | None = None,
    muted_until: Any = ...,
) -> ConversationMember:
    """Your own notify level and mute; a role (admin/member) by the conversation's owner or admins."""
    mine = ensure_member(member.conversation, actor)
    member = ConversationMember.objects.select_for_update().select_related("user").get(pk=member.pk)
    if member.left_at is not None:
        raise NotFound()
    fields: list[str] = []
    if notify is not None or muted_until is not ...:
        if member.user_id != actor.pk:
            raise PermissionDenied(
                "Only the member sets their own notifications.", code="not_your_membership"
            )
        if notify is not None:
            member.notify = notify
            fields.append("notify")
        if muted_until is not ...:
            member.muted_until = muted_until
            fields.append("muted_until")
    if role is not None and role != member.role:
        if member.conversation.kind != Kind.GROUP:
            raise InvalidState("Roles in this conversation follow its parent.", code="membership_managed")
        if role == MemberRole.OWNER or member.role == MemberRole.OWNER:
            raise InvalidState("Ownership changes only when the owner leaves.", code="owner_role")
        if not mine.is_admin:
            raise PermissionDenied("Only conversation admins change roles.", code="not_conversation_admin")
        member.role = role
        fields.append("role")
    if fields:
        member.save(update_fields=[*fields, "updated_at"])
    return member


# --- channels -----------------------------------------------------------------------


def _sync(conversation: Conversation, *, actor: Any = None) -> tuple[list[Any], list[Any]]:
    conversation = _lock(conversation)
    owner = channels.owning_organization_id(conversation)
    if conversation.kind == Kind.CHANNEL and owner != conversation.organization_id:
        # a transferred project: the channel is now under its new owner's policy
        Conversation.objects.filter(pk=conversation.pk).update(organization_id=owner)
        conversation.organization_id = owner
    wanted = channels.desired_members(conversation)
    active = set(
        ConversationMember.objects.filter(conversation=conversation, left_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    added = _add_rows(conversation, wanted, added_by=actor)
    gone = _deactivate(conversation, [uid for uid in active if uid not in wanted])
    _announce_added(conversation, added, actor=actor)
    _announce_removed(conversation, gone, actor=actor)
    return added, gone


@transaction.atomic
def sync_channel_members(*, conversation: Conversation) -> tuple[list[Any], list[Any]]:
    """Make a channel's members those its project / community grants; returns (added, removed)."""
    if conversation.kind != Kind.CHANNEL:
        return [], []
    return _sync(conversation)


def sync_project_channels(*, project_id: Any) -> None:
    for conversation in Conversation.objects.filter(project_id=project_id, kind=Kind.CHANNEL):
        sync_channel_members(conversation=conversation)


def sync_community_channels(*, community_id: Any) -> None:
    for conversation in Conversation.objects.filter(community_id=community_id, kind=Kind.CHANNEL):
        sync_channel_members(conversation=conversation)


# --- read cursors -------------------------------------------------------------------


def _cursor_event(conversation_id: Any, user_id: Any, seq: int, *, organization_id: Any) -> None:
    payload = {
        "type": "read_cursor.updated",
        "conversation_id": str(conversation_id),
        "user_id": str(user_id),
        "last_read_seq": seq,
    }
    group = conversation_group(conversation_id)
    transaction.on_commit(lambda: broadcast(group, payload, organization_id=organization_id))


def _set_cursor(member: ConversationMember, *, seq: int, forward_only: bool) -> int:
    from django.db import connection

    # one statement: clamp to [0, last_message_seq]; forward-only reads keep the larger value
    merge = (
        "GREATEST(chat_readcursor.last_read_seq, EXCLUDED.last_read_seq)"
        if forward_only
        else ("EXCLUDED.last_read_seq")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO chat_readcursor (id, network_id, conversation_id, user_id, last_read_seq,
                                         last_read_at, created_at, updated_at)
            SELECT %s, c.network_id, c.id, %s, GREATEST(0, LEAST(%s, c.last_message_seq)), now(), now(), now()
              FROM chat_conversation c WHERE c.id = %s
            ON CONFLICT (conversation_id, user_id) DO UPDATE
               SET last_read_seq = {merge}, last_read_at = now(), updated_at = now()
            RETURNING last_read_seq
            """,  # noqa: S608 — merge is one of two constants above
            [uuid7(), member.user_id, seq, member.conversation_id],
        )
        return int(cursor.fetchone()[0])


@transaction.atomic
def mark_read(*, actor: Any, conversation: Conversation | Any, seq: int) -> int:
    """Move your cursor forward to ``seq`` (never past the last message, never backwards)."""
    member = active_member(conversation, actor)
    before = (
        ReadCursor.objects.filter(conversation_id=member.conversation_id, user=actor)
        .values_list("last_read_seq", flat=True)
        .first()
    )
    value = _set_cursor(member, seq=seq, forward_only=True)
    if value != before:
        _cursor_event(
            member.conversation_id, actor.pk, value, organization_id=member.conversation.organization_id
        )
    return value


@transaction.atomic
def mark_unread(*, actor: Any, conversation: Conversation | Any, seq: int) -> int:
    """ "Mark unread from here": the cursor moves back to just before ``seq``."""
    member = active_member(conversation, actor)
    value = _set_cursor(member, seq=max(0, seq - 1), forward_only=False)
    _cursor_event(
        member.conversation_id, actor.pk, value, organization_id=member.conversation.organization_id
    )
    return value


def ensure_conversation_access(*, actor: Any, conversation: Conversation) -> ConversationMember:
    return ensure_member(conversation, actor)


__all__ = [
    "add_members",
    "check_can_dm",
    "create_channel",
    "create_community_channel",
    "create_group",
    "direct_key",
    "direct_peer_id",
    "get_or_create_direct",
    "mark_read",
    "mark_unread",
    "remove_member",
    "sync_channel_members",
    "sync_community_channels",
    "sync_project_channels",
    "update_conversation",
    "update_member",
]
