"""The dispatcher's data: roadmap tasks, their dependency DAG, fenced claims, signals,
outcome checks, outcomes, verification runs and challenges (SCHEMA.md §14).

Rules live in ``apps.dispatcher.services``; the database carries the backstops:
one active/submitted claim per task (partial unique index), one live outcome per
task, a task never depends on itself, enums by CHECK.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q

from apps.core.choices import choices_check
from apps.core.ids import uuid7
from apps.core.models import NetworkScopedModel

USER = settings.AUTH_USER_MODEL


class TaskKind(models.TextChoices):
    FEATURE = "feature"
    BUG = "bug"
    CHORE = "chore"
    RESEARCH = "research"
    DOCS = "docs"


class TaskStatus(models.TextChoices):
    DRAFT = "draft"
    OPEN = "open"
    CLAIMED = "claimed"
    IN_REVIEW = "in_review"
    ACCEPTED = "accepted"
    DONE = "done"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"


class ClaimableBy(models.TextChoices):
    PROJECT_MEMBERS = "project_members"
    AGENTS = "agents"
    HUMANS = "humans"
    ANYONE = "anyone"


class RoadmapTask(NetworkScopedModel):
    organization_field = "project__owner_organization"

    Status = TaskStatus

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="roadmap_tasks")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    milestone = models.ForeignKey(
        "brain.ProjectMilestone", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=20, choices=TaskKind.choices, default=TaskKind.FEATURE)
    priority = models.SmallIntegerField(default=2)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.DRAFT)
    labels = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    required_capabilities = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    claimable_by = models.CharField(
        max_length=20, choices=ClaimableBy.choices, default=ClaimableBy.PROJECT_MEMBERS
    )
    estimate_points = models.SmallIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    lease_seconds = models.IntegerField(default=14400)
    max_attempts = models.SmallIntegerField(default=3)
    attempt_count = models.SmallIntegerField(default=0)
    #: every dependency is done — kept by database triggers on TaskDependency writes and on a
    #: dependency's moves into or out of ``done`` (migration 0002), read by the claim path
    deps_done = models.BooleanField(default=True)
    #: the fencing counter: +1 on every lease grant; a claim carries the value it was granted
    lease_seq = models.BigIntegerField(default=0)
    requires_human_review = models.BooleanField(default=False)
    challenge_window_hours = models.IntegerField(default=72)
    accepted_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    position = models.FloatField(default=0)
    created_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("description", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("kind", TaskKind, model="roadmaptask"),
            choices_check("status", TaskStatus, model="roadmaptask"),
            choices_check("claimable_by", ClaimableBy, model="roadmaptask"),
            models.CheckConstraint(
                condition=Q(priority__gte=0, priority__lte=4), name="roadmaptask_priority_range"
            ),
            models.CheckConstraint(condition=Q(lease_seconds__gte=60), name="roadmaptask_lease_min"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="roadmaptask_max_attempts_min"),
            models.CheckConstraint(condition=Q(attempt_count__gte=0), name="roadmaptask_attempts_nonneg"),
        ]
        indexes = [
            models.Index(fields=["network", "project", "status", "priority"], name="roadmaptask_proj_status"),
            models.Index(fields=["project", "-id"], name="roadmaptask_project_id"),
            models.Index(
                fields=["project", "priority", "due_at", "created_at"],
                condition=Q(status="open", deps_done=True),
                name="roadmaptask_claimable",
            ),
            GinIndex(fields=["labels"], name="roadmaptask_labels"),
            GinIndex(fields=["search_vector"], name="roadmaptask_search"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"


class TaskDependency(NetworkScopedModel):
    organization_field = "task__project__owner_organization"

    task = models.ForeignKey(RoadmapTask, on_delete=models.CASCADE, related_name="dependencies")
    depends_on = models.ForeignKey(RoadmapTask, on_delete=models.CASCADE, related_name="dependents")

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "task", "depends_on"], name="taskdependency_uniq"),
            models.CheckConstraint(condition=~Q(task=F("depends_on")), name="taskdependency_not_self"),
        ]
        indexes = [models.Index(fields=["depends_on"], name="taskdependency_depends_on")]


class ClaimStatus(models.TextChoices):
    ACTIVE = "active"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    RELEASED = "released"
    EXPIRED = "expired"
    REVOKED = "revoked"
    FAILED = "failed"


LIVE_CLAIM = (ClaimStatus.ACTIVE, ClaimStatus.SUBMITTED)


class ClaimSource(models.TextChoices):
    MANUAL = "manual"
    DISPATCHER = "dispatcher"


class TaskClaim(NetworkScopedModel):
    organization_field = "task__project__owner_organization"

    Status = ClaimStatus

    task = models.ForeignKey(RoadmapTask, on_delete=models.CASCADE, related_name="claims")
    claimant = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="task_claims")
    status = models.CharField(max_length=20, choices=ClaimStatus.choices, default=ClaimStatus.ACTIVE)
    #: the holder's bearer for heartbeats and submissions; replaced on every grant
    lease_token = models.UUIDField(default=uuid7)
    #: the task's ``lease_seq`` at this grant: writes need it to still be the task's current one
    fence = models.BigIntegerField(default=0)
    lease_expires_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempt_no = models.SmallIntegerField(default=1)
    source = models.CharField(max_length=20, choices=ClaimSource.choices, default=ClaimSource.MANUAL)
    signal = models.ForeignKey(
        "SignalLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("status", ClaimStatus, model="taskclaim"),
            choices_check("source", ClaimSource, model="taskclaim"),
            models.UniqueConstraint(
                fields=["task"], condition=Q(status__in=["active", "submitted"]), name="taskclaim_one_live"
            ),
        ]
        indexes = [
            models.Index(
                fields=["lease_expires_at"], condition=Q(status="active"), name="taskclaim_lease_due"
            ),
            models.Index(fields=["network", "claimant", "status", "-id"], name="taskclaim_claimant"),
            models.Index(fields=["task", "-id"], name="taskclaim_task"),
        ]

    def __str__(self) -> str:
        return f"claim {self.pk} ({self.status})"


class ClaimantLoad(models.Model):
    """Live (active or submitted) claims per claimant and network, kept by a trigger on TaskClaim.

    The claim path checks the claimant's limit by reading this one row instead of counting
    their claims (which grew with every claim held). Every writer of TaskClaim — services,
    the admin, bulk updates, raw SQL — keeps it exact (migration 0003); never written by code.
    """

    id = models.BigAutoField(primary_key=True)
    network = models.ForeignKey("networks.Network", on_delete=models.CASCADE, related_name="+")
    claimant = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    live = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "claimant"], name="claimantload_one"),
            models.CheckConstraint(condition=Q(live__gte=0), name="claimantload_live_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.claimant_id}: {self.live} live claim(s)"


class DispatcherMode(models.TextChoices):
    OFF = "off"
    SUGGEST = "suggest"
    AUTO = "auto"


class DispatcherState(NetworkScopedModel):
    organization_field = "project__owner_organization"

    Mode = DispatcherMode

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="dispatcher_state"
    )
    mode = models.CharField(max_length=10, choices=DispatcherMode.choices, default=DispatcherMode.OFF)
    tick_interval_s = models.IntegerField(default=60)
    max_active_claims = models.IntegerField(default=10)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    next_tick_at = models.DateTimeField(null=True, blank=True)
    lock_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    stats = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("mode", DispatcherMode, model="dispatcherstate"),
            models.CheckConstraint(condition=Q(tick_interval_s__gte=5), name="dispatcherstate_tick_min"),
            models.CheckConstraint(condition=Q(max_active_claims__gte=0), name="dispatcherstate_max_claims"),
        ]
        indexes = [
            models.Index(fields=["next_tick_at"], condition=~Q(mode="off"), name="dispatcherstate_due")
        ]


class SignalKind(models.TextChoices):
    TASK_OPENED = "task_opened"
    TASK_REOPENED = "task_reopened"
    CLAIM_RELEASED = "claim_released"
    CLAIM_EXPIRED = "claim_expired"
    OUTCOME_SUBMITTED = "outcome_submitted"
    VERIFICATION_FINISHED = "verification_finished"
    CHALLENGE_RESOLVED = "challenge_resolved"
    DEPENDENCY_DONE = "dependency_done"
    AGENT_AVAILABLE = "agent_available"
    MANUAL_KICK = "manual_kick"


class SignalStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class SignalLog(NetworkScopedModel):
    organization_field = "project__owner_organization"

    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=30, choices=SignalKind.choices)
    task = models.ForeignKey(RoadmapTask, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=SignalStatus.choices, default=SignalStatus.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("kind", SignalKind, model="signallog"),
            choices_check("status", SignalStatus, model="signallog"),
            models.UniqueConstraint(fields=["network", "dedupe_key"], name="signallog_dedupe"),
        ]
        indexes = [
            models.Index(
                fields=["project", "created_at"], condition=Q(status="pending"), name="signallog_pending"
            ),
            models.Index(fields=["project", "-id"], name="signallog_project_id"),
        ]


class CheckKind(models.TextChoices):
    CI_STATUS = "ci_status"
    HTTP = "http"
    COMMAND = "command"
    LLM_RUBRIC = "llm_rubric"
    MANUAL = "manual"


class OutcomeCheck(NetworkScopedModel):
    organization_field = "task__project__owner_organization"

    task = models.ForeignKey(RoadmapTask, on_delete=models.CASCADE, related_name="checks")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=CheckKind.choices)
    config = models.JSONField(default=dict, blank=True)
    required = models.BooleanField(default=True)
    position = models.IntegerField(default=0)
    timeout_s = models.IntegerField(default=900)

    class Meta:
        ordering = ("position", "id")
        constraints = [
            choices_check("kind", CheckKind, model="outcomecheck"),
            models.UniqueConstraint(fields=["network", "task", "name"], name="outcomecheck_task_name"),
        ]


class OutcomeStatus(models.TextChoices):
    SUBMITTED = "submitted"
    VERIFYING = "verifying"
    PASSED = "passed"
    FAILED = "failed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class TaskOutcome(NetworkScopedModel):
    organization_field = "task__project__owner_organization"

    Status = OutcomeStatus

    task = models.ForeignKey(RoadmapTask, on_delete=models.CASCADE, related_name="outcomes")
    claim = models.ForeignKey(TaskClaim, on_delete=models.CASCADE, related_name="outcomes")
    submitted_by = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    attempt_no = models.SmallIntegerField(default=1)
    summary = models.TextField(blank=True, default="")
    artifacts = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=OutcomeStatus.choices, default=OutcomeStatus.SUBMITTED)
    score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    reviewer = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    review_note = models.TextField(blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("status", OutcomeStatus, model="taskoutcome"),
            models.UniqueConstraint(fields=["claim", "attempt_no"], name="taskoutcome_claim_attempt"),
            models.UniqueConstraint(
                fields=["task"],
                condition=Q(status__in=["submitted", "verifying", "passed"]),
                name="taskoutcome_one_live",
            ),
        ]
        indexes = [models.Index(fields=["task", "-id"], name="taskoutcome_task")]


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"


class Runner(models.TextChoices):
    WORKER = "worker"
    SANDBOX = "sandbox"
    LLM = "llm"
    HUMAN = "human"


class VerificationRun(NetworkScopedModel):
    organization_field = "outcome__task__project__owner_organization"

    Status = RunStatus

    outcome = models.ForeignKey(TaskOutcome, on_delete=models.CASCADE, related_name="runs")
    # ("check" would shadow Model.check, Django's system-check hook)
    outcome_check = models.ForeignKey(OutcomeCheck, on_delete=models.CASCADE, related_name="runs")
    attempt = models.SmallIntegerField(default=1)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    runner = models.CharField(max_length=20, choices=Runner.choices, default=Runner.WORKER)
    verifier = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    log_excerpt = models.TextField(blank=True, default="")
    external_ref = models.CharField(max_length=200, blank=True, default="")
    ai_usage = models.ForeignKey(
        "billing.AIUsage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("id",)
        constraints = [
            choices_check("status", RunStatus, model="verificationrun"),
            choices_check("runner", Runner, model="verificationrun"),
            models.UniqueConstraint(
                fields=["outcome", "outcome_check", "attempt"], name="verificationrun_uniq"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status"], condition=Q(status__in=["queued", "running"]), name="verificationrun_live"
            )
        ]


class ChallengeReason(models.TextChoices):
    INCORRECT = "incorrect"
    INCOMPLETE = "incomplete"
    REGRESSION = "regression"
    PLAGIARISM = "plagiarism"
    SPEC_MISMATCH = "spec_mismatch"
    OTHER = "other"


class ChallengeStatus(models.TextChoices):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    UPHELD = "upheld"
    DISMISSED = "dismissed"
    WITHDRAWN = "withdrawn"


class RoadmapChallenge(NetworkScopedModel):
    organization_field = "task__project__owner_organization"

    Status = ChallengeStatus

    task = models.ForeignKey(RoadmapTask, on_delete=models.CASCADE, related_name="challenges")
    outcome = models.ForeignKey(TaskOutcome, on_delete=models.CASCADE, related_name="challenges")
    challenger = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(
        max_length=20, choices=ChallengeReason.choices, default=ChallengeReason.INCORRECT
    )
    details = models.TextField(blank=True, default="")
    evidence = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=ChallengeStatus.choices, default=ChallengeStatus.OPEN)
    resolver = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolution_note = models.TextField(blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("reason", ChallengeReason, model="roadmapchallenge"),
            choices_check("status", ChallengeStatus, model="roadmapchallenge"),
            models.UniqueConstraint(
                fields=["outcome", "challenger"],
                condition=Q(status__in=["open", "under_review"]),
                name="roadmapchallenge_one_open",
            ),
        ]
        indexes = [
            models.Index(fields=["network", "status", "-id"], name="roadmapchallenge_status"),
            models.Index(fields=["task", "status"], name="roadmapchallenge_task"),
        ]
