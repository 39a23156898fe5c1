from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class Visibility(models.TextChoices):
    PRIVATE = "private"
    NETWORK = "network"
    PUBLIC = "public"


class Organization(NetworkScopedModel):
    organization_field = "pk"  # its own security policy applies (apps/organizations/policy.py)

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50)
    avatar = models.ImageField(upload_to="org-avatars/%Y/%m/", null=True, blank=True)
    description = models.TextField(blank=True, default="")
    website_url = models.URLField(max_length=500, null=True, blank=True)
    billing_email = models.EmailField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "slug"], name="organization_network_slug_uniq"),
        ]
        # ?all=true: the network's live orgs, newest first
        indexes = [
            models.Index(
                fields=["network", "-id"],
                condition=models.Q(archived_at__isnull=True),
                name="organization_live",
            )
        ]

    def __str__(self) -> str:
        return self.name


class OrganizationMemberRole(models.TextChoices):
    MEMBER = "member"
    OWNER = "owner"
    ADMIN = "admin"
    VIEWER = "viewer"
    BILLING = "billing"


class OrganizationMemberStatus(models.TextChoices):
    ACTIVE = "active"
    INVITED = "invited"


class OrganizationMember(NetworkScopedModel):
    Role = OrganizationMemberRole

    Status = OrganizationMemberStatus
    organization_field = "organization"  # its security policy applies (apps/organizations/policy.py)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="organization_memberships",
    )
    invite_email = models.EmailField(null=True, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    invite_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    invite_expires_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="invited") | models.Q(user__isnull=False),
                name="orgmember_invited_or_user",
            ),
            models.CheckConstraint(
                condition=models.Q(status="active") | models.Q(invite_email__isnull=False),
                name="orgmember_invite_has_email",
            ),
            models.UniqueConstraint(fields=["organization", "user"], name="orgmember_org_user_uniq"),
            models.UniqueConstraint(
                fields=["organization", "invite_email"],
                condition=models.Q(status="invited"),
                name="orgmember_org_invite_email_uniq",
            ),
            choices_check("role", OrganizationMemberRole, model="orgmember"),
            choices_check("status", OrganizationMemberStatus, model="orgmember"),
        ]
        indexes = [
            models.Index(fields=["user", "status"], name="orgmember_user_status"),
            # the members list: one org's rows by status, newest first
            models.Index(fields=["organization", "status", "-id"], name="orgmember_org_status_id"),
            # the daily expiry job
            models.Index(
                fields=["invite_expires_at"],
                condition=models.Q(status="invited"),
                name="orgmember_invite_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id or self.invite_email} in {self.organization_id} ({self.role})"


class OrganizationSettings(NetworkScopedModel):
    organization_field = "organization"  # its security policy applies (apps/organizations/policy.py)

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="settings")
    default_project_visibility = models.CharField(
        max_length=20, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    members_can_create_projects = models.BooleanField(default=True)
    members_can_create_agents = models.BooleanField(default=False)
    members_can_invite = models.BooleanField(default=False)
    default_agent_model = models.CharField(max_length=200, null=True, blank=True)
    features = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            choices_check("default_project_visibility", Visibility, model="orgsettings"),
        ]

    def __str__(self) -> str:
        return f"settings of {self.organization_id}"


class OrganizationSecurityPolicy(NetworkScopedModel):
    organization_field = "organization"  # its security policy applies (apps/organizations/policy.py)

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="security_policy"
    )
    require_2fa = models.BooleanField(default=False)
    allowed_email_domains = ArrayField(models.CharField(max_length=253), default=list, blank=True)
    session_max_age_hours = models.PositiveIntegerField(null=True, blank=True)
    ip_allowlist = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    api_keys_allowed = models.BooleanField(default=True)
    require_tool_approval = models.BooleanField(default=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"security policy of {self.organization_id}"
