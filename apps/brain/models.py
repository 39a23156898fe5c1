"""The project brain (SCHEMA.md §19): decisions (ADRs) and milestones."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class DecisionStatus(models.TextChoices):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    DEPRECATED = "deprecated"


class ProjectDecision(NetworkScopedModel):
    Status = DecisionStatus
    organization_field = "project__owner_organization"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="decisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    context = models.TextField(blank=True, default="")
    decision = models.TextField(blank=True, default="")
    consequences = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=DecisionStatus.choices, default=DecisionStatus.PROPOSED)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded_by"
    )
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    links = models.JSONField(default=dict, blank=True)
    # the AgentDecision that produced it (a FK once apps/agents exists)
    agent_decision_id = models.UUIDField(null=True, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("context", weight="B", config="english")
        + SearchVector("decision", weight="B", config="english")
        + SearchVector("consequences", weight="C", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "project", "number"], name="decision_project_number_uniq"
            ),
            models.CheckConstraint(condition=~Q(supersedes=F("id")), name="decision_not_self_superseding"),
            choices_check("status", DecisionStatus, model="decision"),
        ]
        indexes = [
            models.Index(fields=["network", "project", "status"], name="decision_project_status"),
            GinIndex(fields=["search_vector"], name="decision_search"),
            GinIndex(fields=["tags"], name="decision_tags"),
        ]

    def __str__(self) -> str:
        return f"ADR-{self.number}: {self.title}"


class MilestoneStatus(models.TextChoices):
    PLANNED = "planned"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ProjectMilestone(NetworkScopedModel):
    Status = MilestoneStatus
    organization_field = "project__owner_organization"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="milestones")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=MilestoneStatus.choices, default=MilestoneStatus.PLANNED)
    starts_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    position = models.IntegerField(default=0)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_total = models.IntegerField(default=0)
    task_done = models.IntegerField(default=0)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["network", "project", "title"], name="milestone_project_title_uniq"
            ),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(due_on__isnull=True) | Q(due_on__gte=F("starts_on")),
                name="milestone_due_after_start",
            ),
            models.CheckConstraint(
                condition=Q(task_total__gte=0, task_done__gte=0), name="milestone_counters_positive"
            ),
            choices_check("status", MilestoneStatus, model="milestone"),
        ]
        indexes = [
            models.Index(
                fields=["network", "project", "status", "due_on"], name="milestone_project_status_due"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def open_tasks(self) -> int:
        return max(self.task_total - self.task_done, 0)
