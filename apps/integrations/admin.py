"""Integrations back office: connections (hint only, revoke), grants, pending calls (expire, cancel), the log
(read-only: a database trigger refuses edits anyway)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.exceptions import DomainError

from . import services
from .models import AgentIntegration, PendingToolExecution, ToolExecutionLog, UserIntegration
from .services.execution import close_by_staff


@admin.register(UserIntegration)
class UserIntegrationAdmin(admin.ModelAdmin):
    list_display = (
        "toolkit",
        "account_label",
        "user",
        "organization",
        "provider",
        "status",
        "credentials_hint",
        "last_used_at",
    )
    list_filter = ("status", "provider", "toolkit")
    search_fields = ("account_label", "external_account_id", "user__email")
    list_select_related = ("user", "organization")
    fields = (
        "network", "user", "organization", "toolkit", "provider", "external_account_id", "auth_config_id",
        "account_label", "scopes", "config", "credentials_hint", "status", "last_used_at", "last_error",
    )  # fmt: skip
    readonly_fields = fields  # credentials are never shown: only their hint
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected connections (at the provider too; grants disabled)")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for integration in queryset.select_related("user"):
            try:
                # staff act as the connection's user: the service's rule is "its user decides"
                services.revoke_connection(actor=integration.user, integration=integration)
            except DomainError as exc:
                messages.error(request, f"{integration}: {exc.message}")


@admin.register(AgentIntegration)
class AgentIntegrationAdmin(admin.ModelAdmin):
    list_display = ("agent", "user_integration", "approval_policy", "daily_limit", "enabled", "expires_at")
    list_filter = ("enabled", "approval_policy")
    list_select_related = ("agent", "user_integration")
    raw_id_fields = ("agent", "user_integration", "granted_by")
    readonly_fields = ("network", "agent", "user_integration", "granted_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PendingToolExecution)
class PendingToolExecutionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "agent", "tool", "risk", "status", "approver", "expires_at")
    list_filter = ("status", "risk")
    list_select_related = ("agent", "approver")
    readonly_fields = [f.name for f in PendingToolExecution._meta.fields]
    actions = ("expire", "cancel")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _move(self, request: HttpRequest, queryset: QuerySet, to: str) -> None:
        done = sum(
            close_by_staff(actor=request.user, execution=row, to=to)
            for row in queryset.filter(status="pending")
        )
        messages.success(request, f"{to}: {done} call(s).")

    @admin.action(description="Expire selected pending calls")
    def expire(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, "expired")

    @admin.action(description="Cancel selected pending calls")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, "cancelled")


@admin.register(ToolExecutionLog)
class ToolExecutionLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "agent", "tool", "status", "duration_ms", "user_integration")
    list_filter = ("status",)
    list_select_related = ("agent", "user_integration")
    readonly_fields = [f.name for f in ToolExecutionLog._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
