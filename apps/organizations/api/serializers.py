from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.accounts.models import User
from apps.core.api import NetworkScopedRelatedField
from apps.core.models import AuditEvent
from apps.core.serializers import FastReadMixin

from .. import roles
from ..models import (
    Organization,
    OrganizationMember,
    OrganizationSecurityPolicy,
    OrganizationSettings,
    Visibility,
)

_PRIVATE_PROFILE_ROLES = {roles.OWNER, roles.ADMIN, roles.BILLING}


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "handle", "display_name", "avatar", "is_ai")
        read_only_fields = fields


class OrganizationSerializer(FastReadMixin, serializers.ModelSerializer):
    viewer_role = serializers.SerializerMethodField(
        help_text="Your role here, or null if you are not a member."
    )
    member_count = serializers.SerializerMethodField()
    billing_email = serializers.SerializerMethodField(
        help_text="Shown to owners, admins and billing members."
    )

    class Meta:
        model = Organization
        fields = (
            "id",
            "name",
            "slug",
            "avatar",
            "description",
            "website_url",
            "billing_email",
            "created_by",
            "archived_at",
            "viewer_role",
            "member_count",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_viewer_role(self, obj: Organization) -> str | None:
        return getattr(obj, "viewer_role", None)

    def get_member_count(self, obj: Organization) -> int:
        return int(getattr(obj, "member_count", 0) or 0)

    def get_billing_email(self, obj: Organization) -> str | None:
        return obj.billing_email if getattr(obj, "viewer_role", None) in _PRIVATE_PROFILE_ROLES else None


class OrganizationWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=50, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    website_url = serializers.URLField(max_length=500, required=False, allow_null=True, allow_blank=True)
    billing_email = serializers.EmailField(required=False, allow_null=True, allow_blank=True)

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate_slug(self, value: str) -> str:
        return value.lower()


class TransferOwnershipSerializer(serializers.Serializer):
    user = NetworkScopedRelatedField(
        queryset=User.objects.all(), help_text="An active member of the organization (a person)."
    )


class OrganizationMemberSerializer(FastReadMixin, serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)
    invite_email = serializers.SerializerMethodField()
    status = serializers.ChoiceField(
        choices=OrganizationMember.Status.choices,
        read_only=True,
        help_text="`active`, or `invited` (pending invitation).",
    )

    class Meta:
        model = OrganizationMember
        fields = (
            "id",
            "organization",
            "user",
            "invite_email",
            "role",
            "status",
            "invited_by",
            "invite_expires_at",
            "joined_at",
            "created_at",
        )
        read_only_fields = fields

    def get_invite_email(self, obj: OrganizationMember) -> str | None:
        return obj.invite_email if obj.status == OrganizationMember.Status.INVITED else None


class MemberCreateSerializer(serializers.Serializer):
    user = NetworkScopedRelatedField(
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text="Add a user (person or agent) of this network directly.",
    )
    email = serializers.EmailField(
        required=False, allow_null=True, help_text="Or invite by email: a 7-day link is mailed."
    )
    role = serializers.ChoiceField(choices=OrganizationMember.Role.choices, default=roles.MEMBER)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("user")) == bool(attrs.get("email")):
            raise serializers.ValidationError({"user": ["Give exactly one of user or email."]})
        return attrs


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=OrganizationMember.Role.choices)


class AcceptInvitationSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200, trim_whitespace=True)


class AcceptedInvitationSerializer(serializers.Serializer):
    organization = OrganizationSerializer()
    membership = OrganizationMemberSerializer()


class OrganizationSettingsSerializer(serializers.ModelSerializer):
    default_project_visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    features = serializers.DictField(required=False, help_text="Feature flags (names → values).")

    class Meta:
        model = OrganizationSettings
        fields = (
            "organization",
            "default_project_visibility",
            "members_can_create_projects",
            "members_can_create_agents",
            "members_can_invite",
            "default_agent_model",
            "features",
            "updated_at",
        )
        read_only_fields = ("organization", "updated_at")
        extra_kwargs = {"default_agent_model": {"allow_null": True, "allow_blank": True}}

    def validate_features(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > 100 or any(len(str(k)) > 64 for k in value):
            raise serializers.ValidationError("At most 100 flags, names up to 64 characters.")
        for flag in value.values():
            if not isinstance(flag, bool | int | str | type(None)):
                raise serializers.ValidationError("Flag values are booleans, numbers, strings or null.")
        return value


class OrganizationSecurityPolicySerializer(serializers.ModelSerializer):
    allowed_email_domains = serializers.ListField(
        child=serializers.CharField(max_length=253),
        required=False,
        max_length=100,
        help_text="New members' email domains (empty = any).",
    )
    ip_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=100,
        help_text="IP addresses or CIDR ranges members may call from (empty = any).",
    )
    session_max_age_hours = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=24 * 365
    )

    class Meta:
        model = OrganizationSecurityPolicy
        fields = (
            "organization",
            "require_2fa",
            "allowed_email_domains",
            "session_max_age_hours",
            "ip_allowlist",
            "api_keys_allowed",
            "require_tool_approval",
            "updated_by",
            "updated_at",
        )
        read_only_fields = ("organization", "updated_by", "updated_at")


class AuditEventSerializer(FastReadMixin, serializers.ModelSerializer):
    actor = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ("id", "action", "actor", "api_key", "target_type", "target_id", "data", "ip", "created_at")
        read_only_fields = fields
