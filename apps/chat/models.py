"""Chat (SCHEMA.md §6): conversations, members, messages with per-conversation seq, reactions,
media, read cursors.

``Conversation.last_message_seq`` is the conversation's counter: a send takes the next
value with ``UPDATE … SET last_message_seq = last_message_seq + 1 RETURNING`` (the row
lock orders concurrent sends), so seqs are gap-free and ``unread = last_message_seq −
last_read_seq`` needs no count.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class ConversationKind(models.TextChoices):
    DIRECT = "direct"
    GROUP = "group"
    CHANNEL = "channel"


class MemberRole(models.TextChoices):
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"


class NotifyLevel(models.TextChoices):
    ALL = "all"
    MENTIONS = "mentions"
    NONE = "none"


class MessageKind(models.TextChoices):
    USER = "user"
    SYSTEM = "system"


class MediaKind(models.TextChoices):
    IMAGE = "image"
    VIDEO = "video"
    FILE = "file"


class Conversation(NetworkScopedModel):
    Kind = ConversationKind
    #: the organization policy (apps/organizations/policy.py) holds on a channel of an
    #: org-owned project or community: ``organization`` mirrors the parent's owner
    organization_field = "organization"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DIRECT)
    title = models.CharField(max_length=200, null=True, blank=True)
    topic = models.CharField(max_length=250, null=True, blank=True)
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    community = models.ForeignKey(
        "social.Community", null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    #: a channel's parent's owning organization (kept by ``sync_channel_members``); null otherwise
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: ``<min user id>:<max user id>`` for direct conversations (one per pair)
    direct_key = models.CharField(max_length=73, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_message_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("kind", ConversationKind, model="conversation"),
            models.UniqueConstraint(
                fields=["network", "direct_key"],
                condition=Q(direct_key__isnull=False),
                name="conversation_direct_key_uniq",
            ),
            models.CheckConstraint(
                condition=Q(kind="direct", direct_key__isnull=False)
                | (~Q(kind="direct") & Q(direct_key__isnull=True)),
                name="conversation_direct_has_key",
            ),
            # a channel belongs to exactly one project or community; other kinds to neither
            models.CheckConstraint(
                condition=Q(kind="channel", project__isnull=False, community__isnull=True)
                | Q(kind="channel", project__isnull=True, community__isnull=False)
                | (~Q(kind="channel") & Q(project__isnull=True, community__isnull=True)),
                name="conversation_channel_has_parent",
            ),
            models.CheckConstraint(condition=Q(last_message_seq__gte=0), name="conversation_seq_nonneg"),
        ]
        indexes = [
            models.Index(fields=["network", "project"], name="conversation_project_ix"),
            models.Index(fields=["network", "community"], name="conversation_community_ix"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.kind} {self.pk}"

    @property
    def group_name(self) -> str:
        return conversation_group(self.pk)


def conversation_group(conversation_id: object) -> str:
    """The channel-layer group of a conversation's sockets."""
    return f"conv.{conversation_id}"


class ConversationMember(NetworkScopedModel):
    organization_field = "conversation__organization"
    Role = MemberRole
    Notify = NotifyLevel

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    notify = models.CharField(max_length=10, choices=Notify.choices, default=Notify.ALL)
    muted_until = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("joined_at", "id")
        constraints = [
            choices_check("role", MemberRole, model="conversationmember"),
            choices_check("notify", NotifyLevel, model="conversationmember"),
            models.UniqueConstraint(fields=["conversation", "user"], name="conversationmember_uniq"),
        ]
        indexes = [
            models.Index(
                fields=["network", "user", "conversation"],
                condition=Q(left_at__isnull=True),
                name="conversationmember_active_ix",
            ),
            models.Index(
                fields=["conversation", "joined_at"],
                condition=Q(left_at__isnull=True),
                name="conversationmember_conv_ix",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"

    @property
    def is_active(self) -> bool:
        return self.left_at is None

    @property
    def is_admin(self) -> bool:
        return self.role in (MemberRole.ADMIN, MemberRole.OWNER)


class Message(NetworkScopedModel):
    organization_field = "conversation__organization"
    Kind = MessageKind

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.USER)
    seq = models.BigIntegerField()
    body = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="")
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="direct_replies"
    )
    thread_root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="thread_replies"
    )
    reply_count = models.PositiveIntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    client_id = models.UUIDField(null=True, blank=True)
    mentioned_user_ids = models.JSONField(default=list, blank=True)
    #: previous bodies, newest last (at most 20): ``[{"body", "edited_at"}]``
    edit_history = models.JSONField(default=list, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("body", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ("seq",)
        constraints = [
            choices_check("kind", MessageKind, model="message"),
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_conversation_seq_uniq"),
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_uniq",
            ),
            models.CheckConstraint(
                condition=(Q(reply_to__isnull=True) & Q(thread_root__isnull=True))
                | (Q(reply_to__isnull=False) & Q(thread_root__isnull=False)),
                name="message_thread_both_or_neither",
            ),
            models.CheckConstraint(condition=~Q(reply_to=models.F("id")), name="message_not_own_reply"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="message_seq_positive"),
        ]
        indexes = [
            models.Index(fields=["conversation", "-seq"], name="message_conv_seq_desc_ix"),
            models.Index(fields=["thread_root", "seq"], name="message_thread_ix"),
            GinIndex(fields=["search_vector"], name="message_search_ix"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.conversation_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class MessageReaction(NetworkScopedModel):
    organization_field = "message__conversation__organization"
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=64)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="messagereaction_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} on {self.message_id}"


class ReadCursor(NetworkScopedModel):
    organization_field = "conversation__organization"
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="cursors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_seq = models.BigIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="readcursor_uniq"),
            models.CheckConstraint(condition=Q(last_read_seq__gte=0), name="readcursor_seq_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} to {self.last_read_seq}"


class MessageMedia(NetworkScopedModel):
    """An attachment of a message: a ready core ``Upload``, consumed once (≤ 10 per message)."""

    organization_field = "message__conversation__organization"

    Kind = MediaKind

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="media")
    upload = models.ForeignKey("core.Upload", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    alt_text = models.CharField(max_length=500, blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("message", "position")
        constraints = [
            choices_check("kind", MediaKind, model="messagemedia"),
            models.UniqueConstraint(fields=["message", "position"], name="messagemedia_position_uniq"),
            models.UniqueConstraint(fields=["upload"], name="messagemedia_upload_uniq"),
            models.CheckConstraint(condition=Q(position__lt=10), name="messagemedia_at_most_ten"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.position} of {self.message_id}"
