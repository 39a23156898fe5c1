from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.admin import ReadOnlyAdmin
from apps.core.exceptions import DomainError

from . import services
from .models import AccountDeletionRequest, DataExport, LoginHistory, PendingEmailChange


@admin.register(LoginHistory)
class LoginHistoryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "user", "attempted_email", "method", "ip", "country", "network")
    list_filter = ("event", "method", "is_new_device", "network")
    search_fields = ("user__email", "attempted_email", "ip")
    list_select_related = ("user", "network")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(AccountDeletionRequest)
class AccountDeletionRequestAdmin(ReadOnlyAdmin):
    list_display = ("user", "status", "scheduled_at", "attempts", "completed_at", "network", "created_at")
    list_filter = ("status", "network")
    search_fields = ("user__email", "user__handle")
    list_select_related = ("user", "network")
    actions = ("cancel_selected", "run_now")

    def _run(self, request: HttpRequest, queryset: QuerySet, fn: Callable[..., Any], verb: str) -> None:
        done = 0
        for deletion in queryset.select_related("user"):
            try:
                result = fn(actor=request.user, deletion=deletion)
            except DomainError as exc:
                self.message_user(request, f"{deletion.user}: {exc.message}", messages.ERROR)
                continue
            if getattr(result, "status", None) == AccountDeletionRequest.Status.FAILED:
                self.message_user(request, f"{deletion.user}: purge failed: {result.error}", messages.ERROR)
                continue
            done += 1
        if done:
            self.message_user(request, f"{verb} {done} request(s).", messages.SUCCESS)

    @admin.action(description="Cancel selected deletions (account back to active)")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.cancel_account_deletion, "Cancelled")

    @admin.action(description="Run now: purge the selected accounts immediately")
    def run_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.run_deletion_now, "Purged")


@admin.register(DataExport)
class DataExportAdmin(ReadOnlyAdmin):
    list_display = ("user", "status", "progress", "created_at", "expires_at", "network")
    list_filter = ("status", "network")
    search_fields = ("user__email",)
    list_select_related = ("user", "network")
    exclude = ("file",)


@admin.register(PendingEmailChange)
class PendingEmailChangeAdmin(ReadOnlyAdmin):
    list_display = ("user", "new_email", "expires_at", "confirmed_at", "cancelled_at", "network")
    list_filter = ("network",)
    search_fields = ("user__email", "new_email")
    list_select_related = ("user", "network")
    exclude = ("token_hash",)
