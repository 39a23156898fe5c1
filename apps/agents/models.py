"""AI agents (SCHEMA.md §8): agents are users (``User.is_ai`` + ``agent_*`` columns).

Here: their project access, memory, decisions, conversation summaries, the
append-only change log, cron-scheduled tasks, run history and the prompt
guard's log. Conversations, messages and roadmap tasks are referenced by id
(``*_id`` UUIDs) because those apps are built alongside; they become FKs once
they exist.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q

from apps.accounts.models import User
from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class Agent(User):
    """Admin view of agent users (``is_ai``)."""

    #: an org-owned agent is the organization's (its policy holds on the agent's rows)
    organization_field = "agent_owner_organization"

    class Meta:
        proxy = True
        verbose_name = "agent"


class AccessRole(models.TextChoices):
    READ = "read"
    CONTRIBUTE = "contribute"
    MAINTAIN = "maintain"


class AgentProjectAccess(NetworkScopedModel):
    """What an agent may do on a project (read / contribute / maintain), until ``expires_at``."""

    Role = AccessRole
    organization_field = "project__owner_organization"

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_access"
    )
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="agent_access")
    role = models.CharField(max_length=20, choices=AccessRole.choices, default=AccessRole.READ)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "agent", "project"], name="agentprojectaccess_uniq"),
            choices_check("role", AccessRole, model="agentprojectaccess"),
        ]
        indexes = [
            models.Index(fields=["agent", "-id"], name="agentaccess_agent"),
            models.Index(fields=["project", "agent"], name="agentaccess_project"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.role} on {self.project_id}"


class FactKind(models.TextChoices):
    FACT = "fact"
    PREFERENCE = "preference"
    INSTRUCTION = "instruction"
    OBSERVATION = "observation"


class FactSource(models.TextChoices):
    CONVERSATION = "conversation"
    TASK = "task"
    USER = "user"
    SYSTEM = "system"


class AgentMemoryFact(NetworkScopedModel):
    """One thing an agent remembers; ``fact_key`` is an upsert slot, superseded rows stay as history."""

    Kind = FactKind
    Source = FactSource
    #: the row is its agent's (a project only places it): the agent's organization owns it
    organization_field = "agent__agent_owner_organization"

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_facts")
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fact_key = models.CharField(max_length=200, null=True, blank=True)
    content = models.TextField(max_length=2000)
    kind = models.CharField(max_length=20, choices=FactKind.choices, default=FactKind.FACT)
    source = models.CharField(max_length=20, choices=FactSource.choices, default=FactSource.CONVERSATION)
    source_ref = models.CharField(max_length=200, null=True, blank=True)
    confidence = models.DecimalField(max_digits=3, decimal_places=2, default=0.8)
    importance = models.SmallIntegerField(default=3)
    pinned = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # no database FK: history rows keep pointing at a forgotten successor instead of
    # reviving into the live slot (a SET NULL would break the slot's unique index)
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="supersedes",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    use_count = models.IntegerField(default=0)
    search_vector = models.GeneratedField(
        expression=SearchVector("content", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "agent", "project", "fact_key"],
                condition=Q(fact_key__isnull=False, superseded_by__isnull=True),
                nulls_distinct=False,
                name="agentmemoryfact_live_key_uniq",
            ),
            models.CheckConstraint(
                condition=Q(importance__gte=1, importance__lte=5), name="agentmemoryfact_importance"
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1), name="agentmemoryfact_confidence"
            ),
            choices_check("kind", FactKind, model="agentmemoryfact"),
            choices_check("source", FactSource, model="agentmemoryfact"),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="agentmemoryfact_search"),
            models.Index(
                fields=["agent", "-id"], condition=Q(superseded_by__isnull=True), name="agentmemoryfact_live"
            ),
            models.Index(
                fields=["agent", "pinned"],
                condition=Q(superseded_by__isnull=True, pinned=True),
                name="agentmemoryfact_pinned",
            ),
        ]

    def __str__(self) -> str:
        return self.fact_key or self.content[:60]


class DecisionOutcome(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVERTED = "reverted"


class AgentDecision(NetworkScopedModel):
    """Append-only "what and why" of an agent action (only ``outcome`` moves later)."""

    Outcome = DecisionOutcome
    #: the row is its agent's (a project only places it): the agent's organization owns it
    organization_field = "agent__agent_owner_organization"

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_decisions"
    )
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation_id = models.UUIDField(null=True, blank=True)
    task_id = models.UUIDField(null=True, blank=True)  # dispatcher RoadmapTask
    scheduled_task = models.ForeignKey(
        "agents.AgentScheduledTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run = models.ForeignKey(
        "agents.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=100)
    rationale = models.TextField(blank=True, default="")
    inputs = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(
        max_length=20, choices=DecisionOutcome.choices, default=DecisionOutcome.PENDING
    )
    confidence = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    ai_usage = models.ForeignKey(
        "billing.AIUsage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [choices_check("outcome", DecisionOutcome, model="agentdecision")]
        indexes = [models.Index(fields=["agent", "-created_at"], name="agentdecision_agent_at")]

    def __str__(self) -> str:
        return self.action


class AgentConversationSummary(NetworkScopedModel):
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation_id = models.UUIDField()
    from_seq = models.BigIntegerField()
    to_seq = models.BigIntegerField()
    summary = models.TextField()
    token_count = models.IntegerField(default=0)
    model = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "agent", "conversation_id", "to_seq"], name="agentconvsummary_uniq"
            ),
            models.CheckConstraint(
                condition=Q(from_seq__lte=models.F("to_seq")), name="agentconvsummary_range"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "conversation_id", "-to_seq"], name="agentconvsummary_latest")
        ]


class ChangeKind(models.TextChoices):
    CREATED = "created"
    CONFIG = "config"
    PROMPT = "prompt"
    MODEL = "model"
    STATUS = "status"
    ACCESS = "access"
    INTEGRATION = "integration"
    MEMORY = "memory"
    KEY = "key"


class AgentChangeLog(NetworkScopedModel):
    """Append-only: a trigger refuses UPDATE and DELETE (migration 0002); secrets appear as hints."""

    Change = ChangeKind

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agent_changes"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    change = models.CharField(max_length=20, choices=ChangeKind.choices)
    field = models.CharField(max_length=200, null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-id",)
        constraints = [choices_check("change", ChangeKind, model="agentchangelog")]
        indexes = [models.Index(fields=["agent", "-id"], name="agentchangelog_agent")]

    def __str__(self) -> str:
        return f"{self.change} {self.field or ''}"


class ScheduleStatus(models.TextChoices):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    RUNNING = "running"


class AgentScheduledTask(NetworkScopedModel):
    """A cron expression in a timezone; beat claims due rows (SKIP LOCKED) and runs each slot once."""

    Status = ScheduleStatus
    #: the row is its agent's (a project only places it): the agent's organization owns it
    organization_field = "agent__agent_owner_organization"

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scheduled_tasks"
    )
    name = models.CharField(max_length=200)
    instruction = models.TextField(max_length=8000)
    cron = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="UTC")
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation_id = models.UUIDField(null=True, blank=True)  # output conversation
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=20, choices=ScheduleStatus.choices, null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.SmallIntegerField(default=0)
    run_count = models.IntegerField(default=0)
    max_runtime_s = models.IntegerField(default=300)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "agent", "name"], name="agentscheduledtask_name_uniq"),
            models.CheckConstraint(
                condition=Q(max_runtime_s__gte=10, max_runtime_s__lte=3600), name="agentscheduledtask_runtime"
            ),
            choices_check("last_status", ScheduleStatus, model="agentscheduledtask"),
        ]
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(enabled=True), name="agentscheduledtask_due"),
            models.Index(fields=["agent", "-id"], name="agentscheduledtask_agent"),
        ]

    def __str__(self) -> str:
        return self.name


class RunTrigger(models.TextChoices):
    MENTION = "mention"
    DIRECT_MESSAGE = "direct_message"
    SCHEDULED_TASK = "scheduled_task"
    DISPATCHER = "dispatcher"
    MANUAL = "manual"
    API = "api"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class AgentRun(NetworkScopedModel):
    """One run of ``run_agent``: its trigger, outcome, output and proposed tool calls (run history)."""

    Trigger = RunTrigger
    Status = RunStatus
    #: the row is its agent's (a project only places it): the agent's organization owns it
    organization_field = "agent__agent_owner_organization"

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_runs")
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scheduled_task = models.ForeignKey(
        AgentScheduledTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    slot_at = models.DateTimeField(null=True, blank=True)  # the cron slot a scheduled run is for
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation_id = models.UUIDField(null=True, blank=True)
    message_id = models.UUIDField(null=True, blank=True)  # the triggering message
    task_id = models.UUIDField(null=True, blank=True)  # dispatcher RoadmapTask
    instruction = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True, default="")
    error = models.TextField(blank=True, default="")
    output = models.TextField(blank=True, default="")
    output_message_id = models.UUIDField(null=True, blank=True)
    proposed_tool_calls = models.JSONField(default=list, blank=True)
    ai_usage = models.ForeignKey(
        "billing.AIUsage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["scheduled_task", "slot_at"],
                condition=Q(scheduled_task__isnull=False, slot_at__isnull=False),
                name="agentrun_one_per_slot",
            ),
            models.UniqueConstraint(
                fields=["agent", "message_id"],
                condition=Q(message_id__isnull=False),
                name="agentrun_one_per_message",
            ),
            choices_check("trigger", RunTrigger, model="agentrun"),
            choices_check("status", RunStatus, model="agentrun"),
        ]
        indexes = [
            models.Index(fields=["agent", "-id"], name="agentrun_agent"),
            models.Index(fields=["scheduled_task", "-id"], name="agentrun_task"),
            models.Index(
                fields=["status", "created_at"],
                condition=Q(status__in=["queued", "running"]),
                name="agentrun_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trigger} {self.status}"


class GuardSource(models.TextChoices):
    CHAT = "chat"
    POST = "post"
    TOOL_OUTPUT = "tool_output"
    SCHEDULED_TASK = "scheduled_task"
    API = "api"
    MEMORY = "memory"


class GuardVerdict(models.TextChoices):
    ALLOWED = "allowed"
    FLAGGED = "flagged"
    BLOCKED = "blocked"


class PromptGuardLog(NetworkScopedModel):
    Source = GuardSource
    Verdict = GuardVerdict

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=GuardSource.choices)
    source_ref = models.CharField(max_length=200, null=True, blank=True)
    verdict = models.CharField(max_length=20, choices=GuardVerdict.choices)
    categories = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    score = models.DecimalField(max_digits=4, decimal_places=3)
    excerpt = models.CharField(max_length=500, blank=True, default="")
    detector = models.CharField(max_length=60)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("source", GuardSource, model="promptguardlog"),
            choices_check("verdict", GuardVerdict, model="promptguardlog"),
        ]
        indexes = [
            models.Index(fields=["verdict", "created_at"], name="promptguardlog_verdict_at"),
            models.Index(fields=["agent", "-id"], name="promptguardlog_agent"),
            models.Index(fields=["created_at"], name="promptguardlog_created"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} {self.source}"
