"""Social: communities, posts and threads, reactions, media, tags, follows, blocks, reports.

Counters (member_count, post_count, reply_count, reaction_counts, score,
Tag.post_count) move by atomic SQL in the writing transaction; ``social.recount``
repairs drift nightly. ``Post.hot_rank`` is stored (Lemmy's formula) and read
through partial indexes; ``apps.social.services.ranking`` keeps it current.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel, UploadKind

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9_-]{1,49}$", "Use 2–50 lower-case letters, digits, - or _.")
OWNER_XOR = Q(owner_user__isnull=False, owner_organization__isnull=True) | Q(
    owner_user__isnull=True, owner_organization__isnull=False
)


class CommunityVisibility(models.TextChoices):
    PUBLIC = "public"
    RESTRICTED = "restricted"
    PRIVATE = "private"


class Community(NetworkScopedModel):
    """Public (anyone posts), restricted (readable; join by request), private (members only,
    a 404 to everyone else). Owned by a user or an organization (org RBAC manages it)."""

    Visibility = CommunityVisibility
    organization_field = "owner_organization"

    # OWNER (PROTECT: users are anonymised and organizations archived, never deleted)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    owner_organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    slug = models.CharField(max_length=50, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    rules = models.TextField(blank=True, default="")
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.PUBLIC)
    avatar = models.ImageField(max_length=300, null=True, blank=True)
    banner = models.ImageField(max_length=300, null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    post_count = models.PositiveIntegerField(default=0)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        verbose_name_plural = "communities"
        constraints = [
            models.UniqueConstraint(fields=["network", "slug"], name="community_network_slug_uniq"),
            models.CheckConstraint(condition=OWNER_XOR, name="community_owner_xor"),
            choices_check("visibility", CommunityVisibility, model="community"),
        ]
        indexes = [
            models.Index(fields=["network", "-member_count", "-id"], name="community_popular"),
            models.Index(fields=["owner_organization"], name="community_owner_org"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_private(self) -> bool:
        return self.visibility == CommunityVisibility.PRIVATE


class MemberRole(models.TextChoices):
    MEMBER = "member"
    MODERATOR = "moderator"
    OWNER = "owner"


class GrantableRole(models.TextChoices):
    """The roles an owner may give (ownership is not granted through the API)."""

    MEMBER = "member"
    MODERATOR = "moderator"


class MemberStatus(models.TextChoices):
    ACTIVE = "active"
    PENDING = "pending"
    BANNED = "banned"


class CommunityMember(NetworkScopedModel):
    Role = MemberRole
    Status = MemberStatus
    organization_field = "community__owner_organization"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    request_note = models.CharField(max_length=500, blank=True, default="")
    ban_reason = models.TextField(blank=True, default="")
    banned_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "community", "user"], name="communitymember_uniq"),
            choices_check("role", MemberRole, model="communitymember"),
            choices_check("status", MemberStatus, model="communitymember"),
        ]
        indexes = [
            models.Index(fields=["network", "user", "status"], name="communitymember_user_status"),
            models.Index(fields=["community", "status", "-id"], name="communitymember_comm_status"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.community_id} ({self.role}, {self.status})"


class PostVisibility(models.TextChoices):
    NETWORK = "network"
    PUBLIC = "public"
    FOLLOWERS = "followers"


class PostStatus(models.TextChoices):
    PUBLISHED = "published"
    HIDDEN = "hidden"
    DELETED = "deleted"


ROOT_PUBLISHED = Q(status="published", reply_to__isnull=True)


class Post(NetworkScopedModel):
    """A root post or a reply (``reply_to`` + ``thread_root``: both or neither)."""

    Visibility = PostVisibility
    Status = PostStatus
    organization_field = "community__owner_organization"

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # OWNER (PROTECT: users are anonymised and organizations archived, never deleted)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    owner_organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # PROTECT, not SET_NULL: a post of a private community must never fall out of it
    community = models.ForeignKey(
        Community, null=True, blank=True, on_delete=models.PROTECT, related_name="posts"
    )
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    thread_root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="thread_posts"
    )
    body = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="")
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.NETWORK)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PUBLISHED)
    hidden_reason = models.TextField(blank=True, default="")
    locked_at = models.DateTimeField(null=True, blank=True)
    pinned_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    reply_count = models.PositiveIntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    reaction_counts = models.JSONField(default=dict, blank=True)
    score = models.IntegerField(default=0)
    hot_rank = models.FloatField(default=0.0)
    mentioned_user_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    report_count = models.PositiveIntegerField(default=0)
    search_vector = models.GeneratedField(
        expression=SearchVector("body", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(reply_to__isnull=True, thread_root__isnull=True)
                | Q(reply_to__isnull=False, thread_root__isnull=False),
                name="post_thread_both_or_neither",
            ),
            models.CheckConstraint(condition=~Q(reply_to=F("id")), name="post_not_reply_to_self"),
            models.CheckConstraint(condition=OWNER_XOR, name="post_owner_xor"),
            choices_check("visibility", PostVisibility, model="post"),
            choices_check("status", PostStatus, model="post"),
        ]
        indexes = [
            # feeds: one partial index per (filter, sort); see selectors.feed_*
            models.Index(fields=["community", "-id"], condition=ROOT_PUBLISHED, name="post_comm_new"),
            models.Index(
                fields=["community", "-hot_rank", "-id"], condition=ROOT_PUBLISHED, name="post_comm_hot"
            ),
            models.Index(
                fields=["community", "-score", "-id"], condition=ROOT_PUBLISHED, name="post_comm_top"
            ),
            models.Index(fields=["author", "-id"], condition=ROOT_PUBLISHED, name="post_author_new"),
            models.Index(
                fields=["author", "-hot_rank", "-id"], condition=ROOT_PUBLISHED, name="post_author_hot"
            ),
            models.Index(fields=["owner_organization", "-id"], condition=ROOT_PUBLISHED, name="post_org_new"),
            models.Index(fields=["network", "-id"], condition=ROOT_PUBLISHED, name="post_net_new"),
            models.Index(
                fields=["network", "-hot_rank", "-id"], condition=ROOT_PUBLISHED, name="post_net_hot"
            ),
            models.Index(fields=["network", "-score", "-id"], condition=ROOT_PUBLISHED, name="post_net_top"),
            # the rank job: roots still ranked (a small index: only the last week's posts)
            models.Index(fields=["id"], condition=ROOT_PUBLISHED & Q(hot_rank__gt=0), name="post_hot_live"),
            models.Index(fields=["thread_root", "id"], name="post_thread"),
            models.Index(fields=["author", "-id"], name="post_author_all"),
            models.Index(fields=["network", "-id"], condition=Q(report_count__gt=0), name="post_reported"),
            # search walks the newest published posts first (apps.social.reads.SEARCH_WINDOW)
            models.Index(
                fields=["network", "-id"], condition=Q(status="published"), name="post_net_published"
            ),
            GinIndex(fields=["search_vector"], name="post_search"),
        ]

    def __str__(self) -> str:
        return f"post {self.pk}"

    @property
    def is_root(self) -> bool:
        return self.reply_to_id is None


class ReactionKind(models.TextChoices):
    LIKE = "like"
    LOVE = "love"
    LAUGH = "laugh"
    WOW = "wow"
    SAD = "sad"
    INSIGHTFUL = "insightful"


class PostReaction(NetworkScopedModel):
    Kind = ReactionKind
    organization_field = "post__community__owner_organization"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "post", "user", "kind"], name="postreaction_uniq"),
            choices_check("kind", ReactionKind, model="postreaction"),
        ]
        indexes = [models.Index(fields=["user", "post"], name="postreaction_user_post")]


MediaKind = UploadKind  # a post's media is of its upload's kind


class PostMedia(NetworkScopedModel):
    Kind = MediaKind
    organization_field = "post__community__owner_organization"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="media")
    upload = models.ForeignKey("core.Upload", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    alt_text = models.CharField(max_length=500, blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("post", "position")
        constraints = [
            models.UniqueConstraint(fields=["post", "position"], name="postmedia_post_position_uniq"),
            models.UniqueConstraint(fields=["upload"], name="postmedia_upload_uniq"),
            models.CheckConstraint(condition=Q(position__lt=10), name="postmedia_at_most_10"),
            choices_check("kind", MediaKind, model="postmedia"),
        ]


class Tag(NetworkScopedModel):
    slug = models.CharField(max_length=50)
    name = models.CharField(max_length=50)
    post_count = models.PositiveIntegerField(default=0)
    is_blocked = models.BooleanField(default=False)

    class Meta:
        ordering = ("-post_count", "slug")
        constraints = [
            models.UniqueConstraint(fields=["network", "slug"], name="tag_network_slug_uniq"),
            models.CheckConstraint(condition=Q(slug__regex=r"^[a-z0-9_]{1,50}$"), name="tag_slug_valid"),
        ]
        indexes = [models.Index(fields=["network", "-post_count", "slug"], name="tag_popular")]

    def __str__(self) -> str:
        return f"#{self.slug}"


class PostTag(NetworkScopedModel):
    organization_field = "post__community__owner_organization"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="post_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="post_tags")

    class Meta:
        ordering = ("-id",)
        constraints = [models.UniqueConstraint(fields=["post", "tag"], name="posttag_uniq")]
        indexes = [models.Index(fields=["tag", "-post"], name="posttag_tag_post")]


class Follow(NetworkScopedModel):
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    followee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    followee_organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    followee_community = models.ForeignKey(
        Community, null=True, blank=True, on_delete=models.CASCADE, related_name="followers"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    followee_user__isnull=False,
                    followee_organization__isnull=True,
                    followee_community__isnull=True,
                )
                | Q(
                    followee_user__isnull=True,
                    followee_organization__isnull=False,
                    followee_community__isnull=True,
                )
                | Q(
                    followee_user__isnull=True,
                    followee_organization__isnull=True,
                    followee_community__isnull=False,
                ),
                name="follow_exactly_one_target",
            ),
            models.CheckConstraint(condition=~Q(follower=F("followee_user")), name="follow_not_self"),
            models.UniqueConstraint(
                fields=["follower", "followee_user"],
                condition=Q(followee_user__isnull=False),
                name="follow_user_uniq",
            ),
            models.UniqueConstraint(
                fields=["follower", "followee_organization"],
                condition=Q(followee_organization__isnull=False),
                name="follow_org_uniq",
            ),
            models.UniqueConstraint(
                fields=["follower", "followee_community"],
                condition=Q(followee_community__isnull=False),
                name="follow_community_uniq",
            ),
        ]
        indexes = [
            models.Index(
                fields=["followee_user", "-id"],
                condition=Q(followee_user__isnull=False),
                name="follow_followers",
            ),
            models.Index(fields=["follower", "-id"], name="follow_following"),
        ]

    @property
    def target_type(self) -> str:
        if self.followee_user_id:
            return "user"
        if self.followee_organization_id:
            return "organization"
        return "community"


class Block(NetworkScopedModel):
    """``blocker`` no longer hears from ``blocked``: no DMs, replies, mention notices or
    follows towards the blocker; hidden from the blocker's feeds."""

    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "blocker", "blocked"], name="block_network_pair_uniq"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]
        indexes = [models.Index(fields=["network", "blocked", "blocker"], name="block_blocked_ix")]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class ReportReason(models.TextChoices):
    SPAM = "spam"
    HARASSMENT = "harassment"
    HATE = "hate"
    SEXUAL = "sexual"
    VIOLENCE = "violence"
    ILLEGAL = "illegal"
    OTHER = "other"


class ReportStatus(models.TextChoices):
    OPEN = "open"
    ACTIONED = "actioned"
    DISMISSED = "dismissed"


class Report(NetworkScopedModel):
    """One of post / message / reported_user. ``message_id`` is the chat message's id
    (chat reports through ``services.file_report`` after its own visibility check)."""

    Reason = ReportReason
    Status = ReportStatus
    organization_field = "community__owner_organization"

    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, null=True, blank=True, on_delete=models.CASCADE, related_name="reports")
    message_id = models.UUIDField(null=True, blank=True)
    reported_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # the post's community, copied so the moderators' queue is one indexed filter
    community = models.ForeignKey(
        Community, null=True, blank=True, on_delete=models.CASCADE, related_name="reports"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    details = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(post__isnull=False, message_id__isnull=True, reported_user__isnull=True)
                | Q(post__isnull=True, message_id__isnull=False, reported_user__isnull=True)
                | Q(post__isnull=True, message_id__isnull=True, reported_user__isnull=False),
                name="report_exactly_one_target",
            ),
            models.UniqueConstraint(
                fields=["reporter", "post"],
                condition=Q(status="open", post__isnull=False),
                name="report_open_post_once",
            ),
            choices_check("reason", ReportReason, model="report"),
            choices_check("status", ReportStatus, model="report"),
        ]
        indexes = [
            models.Index(fields=["network", "status", "created_at"], name="report_queue"),
            models.Index(fields=["community", "status", "created_at"], name="report_comm_queue"),
        ]


class ModerationAction(models.TextChoices):
    POST_HIDE = "post.hide"
    POST_UNHIDE = "post.unhide"
    POST_LOCK = "post.lock"
    POST_UNLOCK = "post.unlock"
    POST_PIN = "post.pin"
    POST_UNPIN = "post.unpin"
    POST_DELETE = "post.delete"
    MEMBER_BAN = "member.ban"
    MEMBER_UNBAN = "member.unban"
    MEMBER_APPROVE = "member.approve"
    MEMBER_REJECT = "member.reject"
    MEMBER_REMOVE = "member.remove"
    MEMBER_ROLE = "member.role"
    REPORT_ACTIONED = "report.actioned"
    REPORT_DISMISSED = "report.dismissed"
    TAG_BLOCK = "tag.block"
    TAG_UNBLOCK = "tag.unblock"


class ModerationTarget(models.TextChoices):
    POST = "post"
    USER = "user"
    REPORT = "report"
    TAG = "tag"


class ModerationLogEntry(NetworkScopedModel):
    """The typed moderation log (append-only): who did what to which target, why, until when."""

    Action = ModerationAction
    Target = ModerationTarget
    organization_field = "community__owner_organization"

    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    community = models.ForeignKey(
        Community, null=True, blank=True, on_delete=models.CASCADE, related_name="moderation_log"
    )
    target_type = models.CharField(max_length=20, choices=Target.choices)
    target_id = models.UUIDField()
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-id",)
        verbose_name_plural = "moderation log"
        constraints = [
            choices_check("action", ModerationAction, model="moderationlogentry"),
            choices_check("target_type", ModerationTarget, model="moderationlogentry"),
        ]
        indexes = [
            models.Index(fields=["network", "-id"], name="modlog_network"),
            models.Index(fields=["community", "-id"], name="modlog_community"),
            models.Index(fields=["network", "moderator", "-id"], name="modlog_moderator"),
            models.Index(fields=["network", "target_type", "target_id", "-id"], name="modlog_target"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
