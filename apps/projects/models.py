"""Projects and their infrastructure (SCHEMA.md §4).

A project is owned by exactly one user or one organization (OWNER). Its
infrastructure rows (sandboxes, deployments, storage buckets, databases)
change state only in ``services`` and tasks, by conditional updates.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.fields import EncryptedHintField, EncryptedTextField
from apps.core.models import NetworkScopedModel


class ProjectVisibility(models.TextChoices):
    PRIVATE = "private", "Private (owner and members)"
    NETWORK = "network", "Network (every member of the network)"
    PUBLIC = "public", "Public"


class ProjectStatus(models.TextChoices):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Project(NetworkScopedModel):
    Visibility = ProjectVisibility
    Status = ProjectStatus
    #: an org-owned project obeys the org's security policy (apps/organizations/policy.py)
    organization_field = "owner_organization"

    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="owned_projects",
    )
    owner_organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="projects",
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60)
    description = models.TextField(blank=True, default="")
    visibility = models.CharField(
        max_length=20, choices=ProjectVisibility.choices, default=ProjectVisibility.PRIVATE
    )
    status = models.CharField(max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE)
    repo_url = models.URLField(max_length=500, null=True, blank=True)
    default_branch = models.CharField(max_length=200, default="main")
    github_token = EncryptedTextField(null=True, blank=True)
    github_token_hint = EncryptedHintField(source="github_token")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    models.lookups.Exact(
                        models.Func(
                            "owner_user",
                            "owner_organization",
                            function="num_nonnulls",
                            output_field=models.IntegerField(),
                        ),
                        1,
                    )
                ),
                name="project_one_owner",
            ),
            models.UniqueConstraint(
                fields=["network", "owner_user", "slug"],
                condition=Q(owner_user__isnull=False),
                name="project_user_slug_uniq",
            ),
            models.UniqueConstraint(
                fields=["network", "owner_organization", "slug"],
                condition=Q(owner_organization__isnull=False),
                name="project_org_slug_uniq",
            ),
            choices_check("visibility", ProjectVisibility, model="project"),
            choices_check("status", ProjectStatus, model="project"),
        ]
        indexes = [
            models.Index(fields=["network", "visibility", "status"], name="project_visibility_status"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.status == ProjectStatus.ARCHIVED

    @property
    def is_org_owned(self) -> bool:
        return self.owner_organization_id is not None


class InfraResource(NetworkScopedModel):
    """Columns every infrastructure row shares."""

    organization_field = "project__owner_organization"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=40)
    provider_ref = models.CharField(max_length=200, null=True, blank=True)
    status_detail = models.TextField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ("-id",)


class SandboxStatus(models.TextChoices):
    REQUESTED = "requested"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    DESTROYED = "destroyed"


class Sandbox(InfraResource):
    Status = SandboxStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sandboxes")
    name = models.CharField(max_length=200)
    image = models.CharField(max_length=200)
    cpu_millis = models.PositiveIntegerField(default=1000)
    memory_mb = models.PositiveIntegerField(default=2048)
    access_url = models.URLField(max_length=500, null=True, blank=True)
    access_secret = EncryptedTextField(null=True, blank=True)
    access_secret_hint = EncryptedHintField(source="access_secret")
    last_active_at = models.DateTimeField(null=True, blank=True)
    idle_ttl_min = models.PositiveIntegerField(default=120)
    status = models.CharField(max_length=20, choices=SandboxStatus.choices, default=SandboxStatus.REQUESTED)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "project", "name"],
                condition=~Q(status="destroyed"),
                name="sandbox_project_name_live_uniq",
            ),
            choices_check("status", SandboxStatus, model="sandbox"),
        ]
        indexes = [
            models.Index(fields=["network", "project", "id"], name="sandbox_project_id"),
            models.Index(fields=["status", "updated_at"], name="sandbox_status_updated"),
        ]

    def __str__(self) -> str:
        return self.name


class DeploymentEnvironment(models.TextChoices):
    PREVIEW = "preview"
    PRODUCTION = "production"


class DeploymentStatus(models.TextChoices):
    QUEUED = "queued"
    BUILDING = "building"
    DEPLOYING = "deploying"
    LIVE = "live"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Deployment(InfraResource):
    Environment = DeploymentEnvironment
    Status = DeploymentStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deployments")
    environment = models.CharField(
        max_length=20, choices=DeploymentEnvironment.choices, default=DeploymentEnvironment.PREVIEW
    )
    git_ref = models.CharField(max_length=200)
    commit_sha = models.CharField(max_length=40, null=True, blank=True)
    site_url = models.URLField(max_length=500, null=True, blank=True)
    logs_url = models.URLField(max_length=500, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "project", "environment"],
                condition=Q(status="live"),
                name="deployment_project_env_live_uniq",
            ),
            choices_check("environment", DeploymentEnvironment, model="deployment"),
            choices_check("status", DeploymentStatus, model="deployment"),
        ]
        indexes = [
            models.Index(fields=["network", "project", "id"], name="deployment_project_id"),
            models.Index(fields=["status", "updated_at"], name="deployment_status_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.environment}@{self.git_ref}"


class ResourceStatus(models.TextChoices):
    """States of storage buckets (databases have the same ones)."""

    PROVISIONING = "provisioning"
    READY = "ready"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"


class DatabaseStatus(models.TextChoices):
    PROVISIONING = "provisioning", "Provisioning (database)"
    READY = "ready", "Ready (database)"
    DELETING = "deleting", "Deleting (database)"
    DELETED = "deleted", "Deleted (database)"
    FAILED = "failed", "Failed (database)"


class StorageBucket(InfraResource):
    Status = ResourceStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="storage_buckets")
    name = models.CharField(max_length=200)
    bucket_name = models.CharField(max_length=63)
    region = models.CharField(max_length=200)
    endpoint_url = models.URLField(max_length=500, null=True, blank=True)
    public_read = models.BooleanField(default=False)
    # filled by provisioning
    access_key_id = EncryptedTextField(null=True, blank=True)
    access_key_id_hint = EncryptedHintField(source="access_key_id")
    secret_access_key = EncryptedTextField(null=True, blank=True)
    secret_access_key_hint = EncryptedHintField(source="secret_access_key")
    size_bytes = models.BigIntegerField(default=0)
    object_count = models.PositiveIntegerField(default=0)
    usage_refreshed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=ResourceStatus.choices, default=ResourceStatus.PROVISIONING
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "project", "name"], name="bucket_project_name_uniq"),
            models.UniqueConstraint(fields=["bucket_name"], name="bucket_bucket_name_uniq"),
            choices_check("status", ResourceStatus, model="bucket"),
        ]
        indexes = [
            models.Index(fields=["network", "project", "id"], name="bucket_project_id"),
            models.Index(fields=["status", "updated_at"], name="bucket_status_updated"),
        ]

    def __str__(self) -> str:
        return self.bucket_name


class DatabaseEngine(models.TextChoices):
    POSTGRES = "postgres"


class Database(InfraResource):
    Status = DatabaseStatus
    Engine = DatabaseEngine

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="databases")
    name = models.CharField(max_length=200)
    engine = models.CharField(max_length=20, choices=DatabaseEngine.choices, default=DatabaseEngine.POSTGRES)
    db_name = models.CharField(max_length=63)
    role_name = models.CharField(max_length=63)
    connection_url = EncryptedTextField(null=True, blank=True)
    connection_url_hint = EncryptedHintField(source="connection_url")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=DatabaseStatus.choices, default=DatabaseStatus.PROVISIONING
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "project", "name"], name="database_project_name_uniq"),
            models.UniqueConstraint(fields=["db_name"], name="database_db_name_uniq"),
            choices_check("engine", DatabaseEngine, model="database"),
            choices_check("status", DatabaseStatus, model="database"),
        ]
        indexes = [
            models.Index(fields=["network", "project", "id"], name="database_project_id"),
            models.Index(fields=["status", "updated_at"], name="database_status_updated"),
        ]

    def __str__(self) -> str:
        return self.db_name
