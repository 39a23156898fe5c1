from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.services import client_ip
from apps.core.exceptions import DomainError

from . import services
from .models import ApiKey, ApiKeyUsage


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return (("yes", "Revoked"), ("no", "Not revoked"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=True)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are minted through the API (the secret is shown once there); staff may only revoke."""

    list_display = (
        "prefix",
        "name",
        "user",
        "network",
        "scope_list",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "created_at",
    )
    list_filter = ("network", RevokedFilter, "user__is_ai")
    search_fields = ("prefix", "name", "user__email", "user__handle")
    list_select_related = ("user", "network")
    # secret_hash is never shown
    fields = (
        "name",
        "prefix",
        "user",
        "organization",
        "network",
        "scopes",
        "allowed_ips",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
        "replaced_by",
        "created_by",
        "expiry_reminded_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ("revoke",)
    show_full_result_count = False
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        shown = ", ".join(obj.scopes[:4])
        return shown + (f" (+{len(obj.scopes) - 4})" if len(obj.scopes) > 4 else "")

    @admin.action(description="Revoke selected keys (audited)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        done = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            try:
                services.revoke_api_key(
                    actor=request.user,
                    api_key=api_key,
                    reason="revoked by staff",
                    ip=client_ip(request),
                )
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{api_key}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Revoked {done} key(s).", messages.SUCCESS)


@admin.register(ApiKeyUsage)
class ApiKeyUsageAdmin(admin.ModelAdmin):
    list_display = ("api_key", "network", "hour_at", "request_count", "error_count", "throttled_count")
    list_filter = ("network",)
    search_fields = ("api_key__prefix", "api_key__name")
    list_select_related = ("api_key", "network")
    date_hierarchy = "hour_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiKeyUsage | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKeyUsage | None = None) -> bool:
        return False
