from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from apps.accounts.models import User
from apps.core.api import NetworkScopedRelatedField
from apps.core.serializers import FastReadMixin
from apps.organizations.models import Organization

from ..models import (
    Database,
    DatabaseEngine,
    DatabaseStatus,
    Deployment,
    DeploymentEnvironment,
    DeploymentStatus,
    Project,
    ProjectStatus,
    ProjectVisibility,
    ResourceStatus,
    Sandbox,
    SandboxStatus,
    StorageBucket,
)

_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/\-]{1,200}$")


def status_field(choices: type) -> serializers.ChoiceField:
    """A read-only state column, typed as an enum in the schema."""
    return serializers.ChoiceField(choices=choices.choices, read_only=True)


def _validate_ref(value: str) -> str:
    if not _BRANCH.match(value) or value.endswith((".", "/", ".lock")):
        raise serializers.ValidationError("Enter a valid git branch, tag or commit.")
    return value


class ProjectSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(ProjectStatus)

    class Meta:
        model = Project
        fields = (
            "id",
            "name",
            "slug",
            "description",
            "visibility",
            "status",
            "repo_url",
            "default_branch",
            "github_token_hint",
            "owner_user",
            "owner_organization",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ProjectWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=60, required=False, allow_blank=False)
    description = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=ProjectVisibility.choices, required=False)
    repo_url = serializers.URLField(max_length=500, required=False, allow_null=True, allow_blank=True)
    default_branch = serializers.CharField(max_length=200, required=False, validators=[_validate_ref])
    github_token = serializers.CharField(
        max_length=500,
        required=False,
        allow_null=True,
        allow_blank=True,
        write_only=True,
        trim_whitespace=True,
        help_text="Write-only; read back as github_token_hint. null or empty clears it.",
    )


class ProjectCreateSerializer(ProjectWriteSerializer):
    owner_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(),
        required=False,
        allow_null=True,
        help_text="Create the project for this organization (needs the right to create projects there).",
    )


class ProjectUpdateSerializer(ProjectWriteSerializer):
    name = serializers.CharField(max_length=200, required=False)


class ProjectTransferSerializer(serializers.Serializer):
    owner_user = NetworkScopedRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Yourself (take the project out of an organization).",
    )
    owner_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.filter(archived_at__isnull=True),
        required=False,
        allow_null=True,
        help_text="An organization where you may create projects.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("owner_user") is None) == (attrs.get("owner_organization") is None):
            raise serializers.ValidationError("Give exactly one of owner_user and owner_organization.")
        return attrs


# --- infrastructure -------------------------------------------------------------------

_INFRA_COMMON = (
    "id",
    "project",
    "provider",
    "provider_ref",
    "status",
    "status_detail",
    "created_by",
    "created_at",
    "updated_at",
)


class SandboxSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(SandboxStatus)

    class Meta:
        model = Sandbox
        fields = (
            *_INFRA_COMMON,
            "name",
            "image",
            "cpu_millis",
            "memory_mb",
            "idle_ttl_min",
            "access_url",
            "access_secret_hint",
            "last_active_at",
        )
        read_only_fields = fields


class SandboxCreateSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$", max_length=63)
    image = serializers.CharField(max_length=200)
    cpu_millis = serializers.IntegerField(min_value=100, max_value=64000, default=1000)
    memory_mb = serializers.IntegerField(min_value=128, max_value=262144, default=2048)
    idle_ttl_min = serializers.IntegerField(min_value=5, max_value=10080, default=120)


class DeploymentSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(DeploymentStatus)

    class Meta:
        model = Deployment
        fields = (
            *_INFRA_COMMON,
            "environment",
            "git_ref",
            "commit_sha",
            "site_url",
            "logs_url",
            "started_at",
            "finished_at",
            "error",
        )
        read_only_fields = fields


class DeploymentCreateSerializer(serializers.Serializer):
    environment = serializers.ChoiceField(
        choices=DeploymentEnvironment.choices, default=DeploymentEnvironment.PREVIEW
    )
    git_ref = serializers.CharField(
        max_length=200,
        required=False,
        validators=[_validate_ref],
        help_text="Default: the project's default_branch.",
    )


class StorageBucketSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(ResourceStatus)

    class Meta:
        model = StorageBucket
        fields = (
            *_INFRA_COMMON,
            "name",
            "bucket_name",
            "region",
            "endpoint_url",
            "public_read",
            "access_key_id_hint",
            "secret_access_key_hint",
            "size_bytes",
            "object_count",
            "usage_refreshed_at",
        )
        read_only_fields = fields


class StorageBucketCreateSerializer(serializers.Serializer):
    name = serializers.RegexField(
        r"^[a-z0-9][a-z0-9\-]{0,39}$", max_length=40, help_text="Lower-case letters, digits, hyphens."
    )
    public_read = serializers.BooleanField(default=False)


class DatabaseSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(DatabaseStatus)

    class Meta:
        model = Database
        fields = (
            *_INFRA_COMMON,
            "name",
            "engine",
            "db_name",
            "role_name",
            "connection_url_hint",
            "size_bytes",
        )
        read_only_fields = fields


class DatabaseCreateSerializer(serializers.Serializer):
    name = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_\-]{0,39}$", max_length=40, help_text="Lower-case letters, digits, _ and -."
    )
    engine = serializers.ChoiceField(choices=DatabaseEngine.choices, default=DatabaseEngine.POSTGRES)


class WebhookAckSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="accepted (first delivery) or duplicate (already recorded).")
    id = serializers.UUIDField()
