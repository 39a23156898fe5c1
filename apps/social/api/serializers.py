from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import User
from apps.core.api import NetworkScopedRelatedField
from apps.core.models import Upload
from apps.core.serializers import FastReadMixin
from apps.core.uploads import upload_url
from apps.organizations.models import Organization

from .. import selectors
from ..models import (
    Block,
    Community,
    CommunityMember,
    CommunityVisibility,
    Follow,
    GrantableRole,
    ModerationLogEntry,
    Post,
    PostMedia,
    PostStatus,
    PostVisibility,
    ReactionKind,
    Report,
    ReportStatus,
    Tag,
)
from ..services.posts import MAX_BODY


def _own_uploads(qs, request):
    return qs.filter(uploader_id=getattr(getattr(request, "user", None), "pk", None))


def _visible_communities(qs, request):
    return selectors.visible_communities(qs, viewer=request.user)


def _visible_posts(qs, request):
    return selectors.visible_posts(qs, viewer=request.user)


class UserBriefSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "handle", "display_name", "is_ai")
        read_only_fields = fields


class OrganizationBriefSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ("id", "slug", "name")
        read_only_fields = fields


class CommunityBriefSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = Community
        fields = ("id", "slug", "name", "visibility")
        read_only_fields = fields


# --- communities --------------------------------------------------------------------


class CommunitySerializer(FastReadMixin, serializers.ModelSerializer):
    owner_user = UserBriefSerializer(read_only=True)
    owner_organization = OrganizationBriefSerializer(read_only=True)
    avatar_url = serializers.SerializerMethodField()
    banner_url = serializers.SerializerMethodField()
    viewer_role = serializers.SerializerMethodField(help_text="Your role, or null")
    viewer_status = serializers.SerializerMethodField(help_text="active, pending or banned; null if none")

    class Meta:
        model = Community
        fields = (
            "id",
            "slug",
            "name",
            "description",
            "rules",
            "visibility",
            "owner_user",
            "owner_organization",
            "avatar_url",
            "banner_url",
            "member_count",
            "post_count",
            "archived_at",
            "created_at",
            "viewer_role",
            "viewer_status",
        )
        read_only_fields = fields

    def _membership(self, obj: Community) -> Any:
        memberships = self.context.get("memberships")
        if memberships is not None:
            return memberships.get(obj.pk)
        return getattr(obj, "viewer_membership", None)

    @extend_schema_field(OpenApiTypes.STR)
    def get_viewer_role(self, obj: Community) -> str | None:
        member = self._membership(obj)
        return member.role if member is not None and member.status == "active" else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_viewer_status(self, obj: Community) -> str | None:
        member = self._membership(obj)
        return member.status if member is not None else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_avatar_url(self, obj: Community) -> str | None:
        return obj.avatar.url if obj.avatar else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_banner_url(self, obj: Community) -> str | None:
        return obj.banner.url if obj.banner else None


_IMAGE_UPLOAD = dict(
    queryset=Upload.objects.all(), scope=_own_uploads, required=False, allow_null=True,
    help_text="A ready image upload of yours (null clears it)",
)  # fmt: skip


class CommunityCreateSerializer(serializers.Serializer):
    slug = serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{1,49}$", max_length=50)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    rules = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)
    visibility = serializers.ChoiceField(
        choices=CommunityVisibility.choices, default=CommunityVisibility.PUBLIC
    )
    owner_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.filter(archived_at__isnull=True), required=False, allow_null=True
    )


class CommunityUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    rules = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    visibility = serializers.ChoiceField(choices=CommunityVisibility.choices, required=False)
    avatar = NetworkScopedRelatedField(**_IMAGE_UPLOAD)
    banner = NetworkScopedRelatedField(**_IMAGE_UPLOAD)


class JoinSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class CommunityMemberSerializer(FastReadMixin, serializers.ModelSerializer):
    user = UserBriefSerializer(read_only=True)
    community = CommunityBriefSerializer(read_only=True)

    class Meta:
        model = CommunityMember
        fields = (
            "id",
            "community",
            "user",
            "role",
            "status",
            "request_note",
            "ban_reason",
            "banned_until",
            "created_at",
        )
        read_only_fields = fields


class MemberAddSerializer(serializers.Serializer):
    user = NetworkScopedRelatedField(queryset=User.objects.filter(is_active=True))


class CommunityMemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=GrantableRole.choices)


class BanSerializer(serializers.Serializer):
    user = NetworkScopedRelatedField(queryset=User.objects.all())
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class MemberBanSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ModerationReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


# --- posts ------------------------------------------------------------------------------


class PostMediaSerializer(FastReadMixin, serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    mime = serializers.CharField(source="upload.mime", read_only=True)

    class Meta:
        model = PostMedia
        fields = ("id", "kind", "url", "mime", "width", "height", "duration_ms", "alt_text", "position")
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, obj: PostMedia) -> str | None:
        return upload_url(obj.upload)


class PostSerializer(FastReadMixin, serializers.ModelSerializer):
    """A post; a tombstone (deleted, or hidden from you) keeps its place without its content."""

    author = UserBriefSerializer(read_only=True)
    owner_organization = OrganizationBriefSerializer(read_only=True)
    community = CommunityBriefSerializer(read_only=True)
    media = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    my_reactions = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    body_html = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = (
            "id",
            "author",
            "owner_organization",
            "community",
            "reply_to",
            "thread_root",
            "body",
            "body_html",
            "visibility",
            "status",
            "hidden_reason",
            "locked_at",
            "pinned_at",
            "edited_at",
            "deleted_at",
            "created_at",
            "reply_count",
            "last_reply_at",
            "reaction_counts",
            "score",
            "mentioned_user_ids",
            "media",
            "tags",
            "my_reactions",
        )
        read_only_fields = fields

    def _shows_content(self, obj: Post) -> bool:
        if obj.status == PostStatus.PUBLISHED:
            return True
        if obj.status == PostStatus.DELETED:
            return False
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "pk", None) == obj.author_id:
            return True
        moderated = self.context.get("moderated")
        return bool(moderated is not None and moderated(obj))

    @extend_schema_field(OpenApiTypes.STR)
    def get_body(self, obj: Post) -> str:
        return obj.body if self._shows_content(obj) else ""

    @extend_schema_field(OpenApiTypes.STR)
    def get_body_html(self, obj: Post) -> str:
        return obj.body_html if self._shows_content(obj) else ""

    @extend_schema_field(PostMediaSerializer(many=True))
    def get_media(self, obj: Post) -> list[dict]:
        if not self._shows_content(obj):
            return []
        return PostMediaSerializer(obj.media.all(), many=True, context=self.context).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, obj: Post) -> list[str]:
        return [pt.tag.slug for pt in obj.post_tags.all()]

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ReactionKind.choices)))
    def get_my_reactions(self, obj: Post) -> list[str]:
        return sorted(r.kind for r in getattr(obj, "viewer_reactions", []))

    def to_representation(self, instance: Post) -> dict[str, Any]:
        """The feeds' hot path: the same dict DRF builds (``drf_representation``; the equivalence is
        tested), written out directly — a page of posts costs a tenth of the generic walk."""
        obj = instance
        shown = self._shows_content(obj)
        author, org, community = obj.author, obj.owner_organization, obj.community
        media = obj.media.all() if shown else ()
        return {
            "id": str(obj.pk),
            "author": {
                "id": str(author.pk), "handle": author.handle, "display_name": author.display_name,
                "is_ai": author.is_ai,
            },
            "owner_organization": (
                {"id": str(org.pk), "slug": org.slug, "name": org.name} if org is not None else None
            ),
            "community": (
                {"id": str(community.pk), "slug": community.slug, "name": community.name,
                 "visibility": community.visibility}
                if community is not None else None
            ),
            "reply_to": obj.reply_to_id,  # a UUID, as DRF's related field gives it (JSON: a string)
            "thread_root": obj.thread_root_id,
            "body": obj.body if shown else "",
            "body_html": obj.body_html if shown else "",
            "visibility": obj.visibility,
            "status": obj.status,
            "hidden_reason": obj.hidden_reason,
            "locked_at": _datetime(obj.locked_at),
            "pinned_at": _datetime(obj.pinned_at),
            "edited_at": _datetime(obj.edited_at),
            "deleted_at": _datetime(obj.deleted_at),
            "created_at": _datetime(obj.created_at),
            "reply_count": obj.reply_count,
            "last_reply_at": _datetime(obj.last_reply_at),
            "reaction_counts": obj.reaction_counts,
            "score": obj.score,
            "mentioned_user_ids": [str(uid) for uid in obj.mentioned_user_ids],
            "media": [
                {
                    "id": str(m.pk), "kind": m.kind, "url": upload_url(m.upload), "mime": m.upload.mime,
                    "width": m.width, "height": m.height, "duration_ms": m.duration_ms,
                    "alt_text": m.alt_text, "position": m.position,
                }
                for m in media
            ],
            "tags": [pt.tag.slug for pt in obj.post_tags.all()],
            "my_reactions": sorted(r.kind for r in getattr(obj, "viewer_reactions", [])),
        }  # fmt: skip

    def drf_representation(self, instance: Post) -> dict[str, Any]:
        """DRF's own walk over the declared fields (what ``to_representation`` must equal)."""
        return super().to_representation(instance)


_DATETIME = serializers.DateTimeField()


def _datetime(value: Any) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


class MediaInSerializer(serializers.Serializer):
    upload = NetworkScopedRelatedField(queryset=Upload.objects.all(), scope=_own_uploads)
    alt_text = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class PostCreateSerializer(serializers.Serializer):
    body = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_BODY, trim_whitespace=False
    )
    community = NetworkScopedRelatedField(
        queryset=Community.objects.all(), scope=_visible_communities, required=False, allow_null=True
    )
    reply_to = NetworkScopedRelatedField(
        queryset=Post.objects.select_related("community", "thread_root", "author"),
        scope=_visible_posts,
        required=False,
        allow_null=True,
    )
    visibility = serializers.ChoiceField(choices=PostVisibility.choices, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    media = MediaInSerializer(many=True, required=False, max_length=10)
    as_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True,
        help_text="Post as this organization (owners and admins)",
    )  # fmt: skip


class ReplyCreateSerializer(PostCreateSerializer):
    reply_to = None  # from the URL
    community = None
    visibility = None


class PostUpdateSerializer(serializers.Serializer):
    body = serializers.CharField(required=False, allow_blank=True, max_length=MAX_BODY, trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)


class PostReactionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReactionKind.choices)


class PostReactionResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    changed = serializers.BooleanField()
    reaction_counts = serializers.DictField(child=serializers.IntegerField())
    score = serializers.IntegerField()


class TagSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ("id", "slug", "name", "post_count", "is_blocked")
        read_only_fields = fields


# --- follows, blocks, reports, moderation log -----------------------------------------------


class FollowSerializer(FastReadMixin, serializers.ModelSerializer):
    follower = UserBriefSerializer(read_only=True)
    followee_user = UserBriefSerializer(read_only=True)
    followee_organization = OrganizationBriefSerializer(read_only=True)
    followee_community = CommunityBriefSerializer(read_only=True)
    target_type = serializers.CharField(read_only=True)

    class Meta:
        model = Follow
        fields = (
            "id",
            "follower",
            "target_type",
            "followee_user",
            "followee_organization",
            "followee_community",
            "created_at",
        )
        read_only_fields = fields


class FollowCreateSerializer(serializers.Serializer):
    followee_user = NetworkScopedRelatedField(queryset=User.objects.filter(is_active=True), required=False)
    followee_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.filter(archived_at__isnull=True), required=False
    )
    followee_community = NetworkScopedRelatedField(
        queryset=Community.objects.all(), scope=_visible_communities, required=False
    )


class BlockSerializer(FastReadMixin, serializers.ModelSerializer):
    blocked = UserBriefSerializer(read_only=True)

    class Meta:
        model = Block
        fields = ("id", "blocked", "created_at")
        read_only_fields = fields


class BlockCreateSerializer(serializers.Serializer):
    blocked = NetworkScopedRelatedField(queryset=User.objects.all())


class ReportSerializer(FastReadMixin, serializers.ModelSerializer):
    reporter = UserBriefSerializer(read_only=True)
    reported_user = UserBriefSerializer(read_only=True)
    handled_by = UserBriefSerializer(read_only=True)
    community = CommunityBriefSerializer(read_only=True)

    class Meta:
        model = Report
        fields = (
            "id",
            "reporter",
            "post",
            "message_id",
            "reported_user",
            "community",
            "reason",
            "details",
            "status",
            "handled_by",
            "handled_at",
            "resolution_note",
            "created_at",
        )
        read_only_fields = fields


class ReportCreateSerializer(serializers.Serializer):
    post = NetworkScopedRelatedField(queryset=Post.objects.all(), scope=_visible_posts, required=False)
    reported_user = NetworkScopedRelatedField(queryset=User.objects.all(), required=False)
    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    details = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReportResolveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[ReportStatus.ACTIONED, ReportStatus.DISMISSED])
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    action = serializers.ChoiceField(
        choices=["hide", "delete", "ban_author"], required=False, allow_null=True
    )
    ban_until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ModerationLogEntrySerializer(FastReadMixin, serializers.ModelSerializer):
    moderator = UserBriefSerializer(read_only=True)
    target_user = UserBriefSerializer(read_only=True)
    community = CommunityBriefSerializer(read_only=True)

    class Meta:
        model = ModerationLogEntry
        fields = (
            "id",
            "action",
            "moderator",
            "community",
            "target_type",
            "target_id",
            "target_user",
            "reason",
            "expires_at",
            "data",
            "created_at",
        )
        read_only_fields = fields
