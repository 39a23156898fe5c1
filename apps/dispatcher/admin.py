"""Back office for the dispatcher: staff steer it through services (revoke a claim, resolve a
challenge, pause/resume a project's dispatcher, kick a tick); signals are read-only."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin import LedgerAdmin, each_through_service

from . import services
from .models import (
    DispatcherState,
    RoadmapChallenge,
    RoadmapTask,
    SignalLog,
    TaskClaim,
    TaskOutcome,
    VerificationRun,
)


@admin.register(RoadmapTask)
class RoadmapTaskAdmin(LedgerAdmin):
    list_display = ("title", "project", "status", "priority", "claimable_by", "attempt_count", "created_at")
    list_filter = ("status", "kind", "network")
    search_fields = ("title", "project__name")
    list_select_related = ("project",)
    exclude = ("search_vector",)


class VerificationRunInline(admin.TabularInline):
    model = VerificationRun
    fields = ("outcome_check", "attempt", "status", "runner", "score", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TaskClaim)
class TaskClaimAdmin(LedgerAdmin):
    list_display = ("pk", "task", "claimant", "status", "fence", "lease_expires_at", "source")
    list_filter = ("status", "source", "network")
    list_select_related = ("task", "claimant")
    exclude = ("lease_token",)  # the holder's bearer: never on an admin page
    actions = ("revoke",)

    @admin.action(description="Revoke the selected claims")
    def revoke(self, request, queryset):
        each_through_service(self, request, queryset.filter(status__in=("active", "submitted")),
              lambda c: services.revoke_claim(actor=request.user, claim=c, reason="revoked by staff"), "revoked")  # fmt: skip


@admin.register(TaskOutcome)
class TaskOutcomeAdmin(LedgerAdmin):
    list_display = ("pk", "task", "submitted_by", "attempt_no", "status", "decided_at")
    list_filter = ("status", "network")
    list_select_related = ("task", "submitted_by")
    inlines = (VerificationRunInline,)


@admin.register(RoadmapChallenge)
class RoadmapChallengeAdmin(LedgerAdmin):
    list_display = ("pk", "task", "challenger", "reason", "status", "created_at")
    list_filter = ("status", "reason", "network")
    list_select_related = ("task", "challenger")
    actions = ("uphold", "dismiss")

    @admin.action(description="Uphold (reopen the task, unlock its escrows)")
    def uphold(self, request, queryset):
        each_through_service(self, request, queryset, lambda c: services.resolve_challenge(actor=request.user, challenge=c,
              upheld=True, note="upheld by staff"), "upheld")  # fmt: skip

    @admin.action(description="Dismiss (finalisation resumes)")
    def dismiss(self, request, queryset):
        each_through_service(self, request, queryset, lambda c: services.resolve_challenge(actor=request.user, challenge=c,
              upheld=False, note="dismissed by staff"), "dismissed")  # fmt: skip


@admin.register(DispatcherState)
class DispatcherStateAdmin(LedgerAdmin):
    list_display = ("project", "mode", "tick_interval_s", "max_active_claims", "last_tick_at", "next_tick_at")
    list_filter = ("mode", "network")
    list_select_related = ("project",)
    actions = ("pause", "resume_auto", "kick")

    @admin.action(description="Pause (mode off)")
    def pause(self, request, queryset):
        each_through_service(self, request, queryset, lambda s: services.update_state(actor=request.user, project=s.project,
              changes={"mode": "off"}), "paused")  # fmt: skip

    @admin.action(description="Resume (mode auto)")
    def resume_auto(self, request, queryset):
        each_through_service(self, request, queryset, lambda s: services.update_state(actor=request.user, project=s.project,
              changes={"mode": "auto"}), "resumed")  # fmt: skip

    @admin.action(description="Kick a tick now")
    def kick(self, request, queryset):
        each_through_service(
            self, request, queryset, lambda s: services.kick(actor=request.user, project=s.project), "kicked"
        )


@admin.register(SignalLog)
class SignalLogAdmin(LedgerAdmin):
    list_display = ("kind", "project", "task", "status", "created_at", "processed_at")
    list_filter = ("kind", "status", "network")
    list_select_related = ("project", "task")
