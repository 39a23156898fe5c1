"""Back office for the project brain (read-mostly; milestone edits go through the service)."""

from __future__ import annotations

from django.contrib import admin

from . import services
from .models import ProjectDecision, ProjectMilestone


@admin.register(ProjectDecision)
class ProjectDecisionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "project", "status", "author", "decided_at", "created_at")
    list_filter = ("status", "network")
    search_fields = ("title", "project__name", "project__slug", "author__handle")
    list_select_related = ("project", "author")
    fields = (
        "network",
        "project",
        "number",
        "title",
        "context",
        "decision",
        "consequences",
        "tags",
        "links",
        "status",
        "author",
        "decided_by",
        "decided_at",
        "supersedes",
        "agent_decision_id",
        "created_at",
        "updated_at",
    )
    # accepted decisions are immutable except their status: staff read, never edit
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ProjectMilestone)
class ProjectMilestoneAdmin(admin.ModelAdmin):
    list_display = ("title", "project", "status", "due_on", "task_done", "task_total", "owner")
    list_filter = ("status", "network")
    search_fields = ("title", "project__name", "project__slug")
    list_select_related = ("project", "owner")
    readonly_fields = (
        "network",
        "project",
        "status",
        "completed_at",
        "task_total",
        "task_done",
        "created_at",
        "updated_at",
    )
    fields = (
        "network",
        "project",
        "title",
        "description",
        "status",
        "starts_on",
        "due_on",
        "completed_at",
        "position",
        "task_total",
        "task_done",
        "created_at",
        "updated_at",
    )
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj: ProjectMilestone, form, change: bool) -> None:
        services.update_milestone(
            actor=request.user, milestone=obj, **{name: form.cleaned_data[name] for name in form.changed_data}
        )
