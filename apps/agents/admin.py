"""Agents admin: agents (owner, status, model, today's cost, last run; pause / resume / disable),
change log and decision inlines (read-only — the change log cannot be edited, even here: a database
trigger refuses it), scheduled tasks (run now), runs, memory, and the prompt-guard log for review."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.exceptions import DomainError

from . import services
from .api import _with_stats
from .models import (
    Agent,
    AgentChangeLog,
    AgentDecision,
    AgentMemoryFact,
    AgentRun,
    AgentScheduledTask,
    PromptGuardLog,
)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ChangeLogInline(_ReadOnlyInline):
    model = AgentChangeLog
    fk_name = "agent"
    fields = ("created_at", "change", "field", "before", "after", "actor_id", "reason")
    readonly_fields = fields
    ordering = ("-id",)
    max_num = 50


class DecisionInline(_ReadOnlyInline):
    model = AgentDecision
    fk_name = "agent"
    fields = ("created_at", "action", "rationale", "outcome", "ai_usage")
    readonly_fields = fields
    ordering = ("-id",)
    max_num = 50


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = (
        "handle",
        "display_name",
        "network",
        "agent_owner_user",
        "agent_owner_organization",
        "agent_status",
        "agent_model",
        "today_cost",
        "last_run",
    )
    list_filter = ("agent_status", "agent_autonomy", "network")
    search_fields = ("handle", "display_name")
    list_select_related = ("network", "agent_owner_user", "agent_owner_organization")
    fields = (
        "handle",
        "display_name",
        "network",
        "agent_owner_user",
        "agent_owner_organization",
        "agent_status",
        "agent_model",
        "agent_provider_config",
        "agent_system_prompt",
        "agent_temperature",
        "agent_max_output_tokens",
        "agent_timezone",
        "agent_autonomy",
        "agent_capabilities",
        "agent_daily_budget_micros",
        "agent_max_concurrent_claims",
    )
    readonly_fields = fields  # configuration changes go through the API (and its change log)
    inlines = (ChangeLogInline, DecisionInline)
    actions = ("pause", "resume", "disable")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return _with_stats(super().get_queryset(request).filter(is_ai=True))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="today's cost (µ$)", ordering="today_cost_micros")
    def today_cost(self, obj: Any) -> int:
        return obj.today_cost_micros

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, obj: Any) -> Any:
        return obj.last_run_at

    def _act(self, request: HttpRequest, queryset: QuerySet, fn: Any, label: str) -> None:
        done = 0
        for agent in queryset:
            try:
                fn(actor=request.user, agent=agent, reason=f"staff: {label}")
                done += 1
            except DomainError as exc:
                messages.error(request, f"@{agent.handle}: {exc.message}")
        if done:
            messages.success(request, f"{label}: {done} agent(s).")

    @admin.action(description="Pause selected agents")
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, services.pause_agent, "paused")

    @admin.action(description="Resume selected agents")
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, services.resume_agent, "resumed")

    @admin.action(description="Disable selected agents (revokes their keys)")
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, services.disable_agent, "disabled")


@admin.register(AgentScheduledTask)
class AgentScheduledTaskAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "agent",
        "cron",
        "timezone",
        "enabled",
        "next_run_at",
        "last_status",
        "consecutive_failures",
    )
    list_filter = ("enabled", "last_status", "network")
    search_fields = ("name", "agent__handle")
    list_select_related = ("agent",)
    readonly_fields = (
        "agent", "next_run_at", "last_run_at", "last_status", "last_error", "consecutive_failures", "run_count",
        "lease_until",
    )  # fmt: skip
    fields = (
        "agent",
        "name",
        "instruction",
        "cron",
        "timezone",
        "enabled",
        "max_runtime_s",
        *readonly_fields[1:],
    )
    actions = ("run_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: AgentScheduledTask, form: Any, change: bool) -> None:
        changes = {
            name: form.cleaned_data[name] for name in form.changed_data if name in services.schedules.EDITABLE
        }
        try:
            services.update_scheduled_task(actor=request.user, task=obj, changes=changes)
        except DomainError as exc:
            messages.error(request, exc.message)

    @admin.action(description="Run now")
    def run_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        for task in queryset.select_related("agent"):
            try:
                services.run_task_now(actor=request.user, task=task)
                messages.success(request, f"{task.name}: queued")
            except DomainError as exc:
                messages.error(request, f"{task.name}: {exc.message}")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AgentRun)
class AgentRunAdmin(_ReadOnly):
    list_display = ("created_at", "agent", "trigger", "status", "duration_ms", "error_code")
    list_filter = ("status", "trigger", "network")
    search_fields = ("agent__handle", "error_code")
    list_select_related = ("agent",)
    show_full_result_count = False


@admin.register(AgentChangeLog)
class AgentChangeLogAdmin(_ReadOnly):
    list_display = ("created_at", "agent", "change", "field", "actor_id")
    list_filter = ("change", "network")
    search_fields = ("agent__handle", "field")
    list_select_related = ("agent",)
    show_full_result_count = False


@admin.register(AgentMemoryFact)
class AgentMemoryFactAdmin(_ReadOnly):
    list_display = ("agent", "fact_key", "kind", "importance", "pinned", "superseded_by", "updated_at")
    list_filter = ("kind", "source", "pinned")
    search_fields = ("agent__handle", "fact_key", "content")
    list_select_related = ("agent",)
    show_full_result_count = False
    exclude = ("search_vector",)


@admin.register(PromptGuardLog)
class PromptGuardLogAdmin(_ReadOnly):
    """Staff review of the prompt guard's verdicts (redacted excerpts)."""

    list_display = ("created_at", "verdict", "score", "categories", "source", "agent", "excerpt")
    list_filter = ("verdict", "source", "network")
    search_fields = ("excerpt", "source_ref")
    list_select_related = ("agent",)
    date_hierarchy = "created_at"
    show_full_result_count = False
