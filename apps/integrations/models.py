"""Integrations: connected SaaS accounts, agent grants, tool calls waiting for approval, the execution log.

States (changed only in ``services`` by conditional updates):

* ``PendingIntegration``: initiated → completed | failed | expired (the state
  token is single-use: the callback's conditional update wins once).
* ``PendingToolExecution``: pending → approved → executing → executed | failed;
  pending → rejected | expired | cancelled. ``executing`` left by a dead
  worker is resolved by the reaper (``failed``, never a second provider call).
* ``ToolExecutionLog`` is append-only (a database trigger refuses UPDATE and
  DELETE, except the retention purge, which sets ``integrations.purge``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.fields import EncryptedHintField, EncryptedTextField
from apps.core.models import NetworkScopedModel


class IntegrationProvider(models.TextChoices):
    COMPOSIO = "composio"
    DIRECT = "direct"


class IntegrationStatus(models.TextChoices):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    FAILED = "failed"


class UserIntegration(NetworkScopedModel):
    """A connected SaaS account of ``user`` (shared with ``organization`` when set).

    Composio keeps the OAuth tokens (we keep its connected-account id);
    direct connections (the built-in HTTP connector) keep their token here, encrypted.
    """

    Provider = IntegrationProvider
    Status = IntegrationStatus
    organization_field = "organization"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integrations")
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    toolkit = models.CharField(max_length=64)
    provider = models.CharField(max_length=20, choices=IntegrationProvider.choices)
    external_account_id = models.CharField(max_length=200, null=True, blank=True)
    auth_config_id = models.CharField(max_length=200, null=True, blank=True)
    account_label = models.CharField(max_length=200, blank=True, default="")
    scopes = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    #: direct connections: the endpoint the HTTP connector may call (``{"base_url": …}``)
    config = models.JSONField(default=dict, blank=True)
    credentials = EncryptedTextField(null=True, blank=True)
    credentials_hint = EncryptedHintField(source="credentials")
    status = models.CharField(
        max_length=20, choices=IntegrationStatus.choices, default=IntegrationStatus.ACTIVE
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "user", "toolkit", "external_account_id"],
                name="userintegration_account_unique",
                nulls_distinct=False,
            ),
            choices_check("provider", IntegrationProvider, model="userintegration"),
            choices_check("status", IntegrationStatus, model="userintegration"),
        ]
        indexes = [
            models.Index(fields=["network", "user", "-id"], name="userintegration_user"),
            models.Index(fields=["organization", "-id"], name="userintegration_org"),
        ]

    def __str__(self) -> str:
        return f"{self.toolkit} ({self.account_label or self.external_account_id or self.pk})"


class ApprovalPolicy(models.TextChoices):
    WRITES = "writes"
    ALWAYS = "always"
    NEVER = "never"


class AgentIntegration(NetworkScopedModel):
    """A grant: ``agent`` may call ``allowed_tools`` of ``user_integration`` (explicit list)."""

    Policy = ApprovalPolicy
    organization_field = "agent__agent_owner_organization"

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tool_grants")
    user_integration = models.ForeignKey(UserIntegration, on_delete=models.CASCADE, related_name="grants")
    allowed_tools = ArrayField(models.CharField(max_length=128), default=list, blank=True)
    approval_policy = models.CharField(
        max_length=20, choices=ApprovalPolicy.choices, default=ApprovalPolicy.WRITES
    )
    daily_limit = models.PositiveIntegerField(default=100)
    enabled = models.BooleanField(default=True)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "agent", "user_integration"], name="agentintegration_unique"
            ),
            choices_check("approval_policy", ApprovalPolicy, model="agentintegration"),
        ]
        indexes = [models.Index(fields=["agent", "-id"], name="agentintegration_agent")]

    def __str__(self) -> str:
        return f"{self.agent_id} → {self.user_integration_id}"


class PendingStatus(models.TextChoices):
    INITIATED = "initiated"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class PendingIntegration(NetworkScopedModel):
    """A connect flow in progress: the provider's redirect, our hashed single-use state, 15 minutes."""

    Status = PendingStatus
    organization_field = "organization"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    toolkit = models.CharField(max_length=64)
    state_hash = models.CharField(max_length=64, unique=True)  # global: looked up before the network is known
    redirect_url = models.CharField(max_length=2000, blank=True, default="")
    return_url = models.CharField(max_length=500)
    external_request_id = models.CharField(max_length=200, null=True, blank=True)
    status = models.CharField(max_length=20, choices=PendingStatus.choices, default=PendingStatus.INITIATED)
    expires_at = models.DateTimeField()
    result = models.ForeignKey(
        UserIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [choices_check("status", PendingStatus, model="pendingintegration")]
        indexes = [models.Index(fields=["status", "expires_at"], name="pendingintegration_due")]


class ToolRisk(models.TextChoices):
    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


class ExecutionStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PendingToolExecution(NetworkScopedModel):
    """A tool call an agent proposed, waiting for the connection owner; approval runs exactly these arguments."""

    Risk = ToolRisk
    Status = ExecutionStatus
    organization_field = "agent__agent_owner_organization"

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    agent_integration = models.ForeignKey(AgentIntegration, on_delete=models.CASCADE, related_name="pending")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tool = models.CharField(max_length=128)
    arguments = models.JSONField(default=dict, blank=True)
    arguments_hash = models.CharField(max_length=64)
    risk = models.CharField(max_length=20, choices=ToolRisk.choices, default=ToolRisk.WRITE)
    justification = models.TextField(blank=True, default="")
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    expires_at = models.DateTimeField()
    executing_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: the tool's output after the prompt guard (what the agent gets back)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "agent", "idempotency_key"], name="pendingtoolexecution_idempotent"
            ),
            choices_check("risk", ToolRisk, model="pendingtoolexecution"),
            choices_check("status", ExecutionStatus, model="pendingtoolexecution"),
        ]
        indexes = [
            models.Index(fields=["approver", "status", "-id"], name="pendingtool_approver"),
            models.Index(fields=["agent", "-id"], name="pendingtool_agent"),
            models.Index(fields=["expires_at"], name="pendingtool_due", condition=Q(status="pending")),
            models.Index(
                fields=["executing_at"], name="pendingtool_executing", condition=Q(status="executing")
            ),
        ]


class LogStatus(models.TextChoices):
    SUCCESS = "success"
    ERROR = "error"
    DENIED = "denied"
    TIMEOUT = "timeout"


class ToolExecutionLog(NetworkScopedModel):
    """Every tool-call attempt (append-only): redacted input, output ≤ 64 KB, duration, status."""

    Status = LogStatus
    organization_field = "agent__agent_owner_organization"

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user_integration = models.ForeignKey(
        UserIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent_integration = models.ForeignKey(
        AgentIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pending_execution = models.ForeignKey(
        PendingToolExecution, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs"
    )
    tool = models.CharField(max_length=128)
    arguments_redacted = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=LogStatus.choices)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    external_execution_id = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        constraints = [choices_check("status", LogStatus, model="toolexecutionlog")]
        indexes = [
            models.Index(fields=["agent", "-id"], name="toolexecutionlog_agent"),
            models.Index(fields=["user_integration", "-id"], name="toolexecutionlog_conn"),
            models.Index(fields=["created_at"], name="toolexecutionlog_created"),
        ]
