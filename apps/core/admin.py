from __future__ import annotations

from django.contrib import admin, messages

from .exceptions import DomainError
from .models import AuditEvent, InboundWebhook, Upload


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: staff can look, never edit."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LedgerAdmin(ReadOnlyAdmin):
    """Read-only lists of tables that grow without bound: no full count per page."""

    show_full_result_count = False


def each_through_service(modeladmin, request, queryset, fn, done: str) -> None:
    """An admin action: ``fn(obj)`` (a service call) for each selected row; refusals become warnings."""
    count = 0
    for obj in queryset:
        try:
            fn(obj)
            count += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.WARNING)
    modeladmin.message_user(request, f"{count} {done}.")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor", "target_type", "target_id", "network", "ip")
    list_filter = ("network", "action")
    search_fields = ("action", "target_type", "target_id", "actor__email")
    list_select_related = ("actor", "network")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(InboundWebhook)
class InboundWebhookAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "source", "external_id", "status", "signature_valid", "attempts")
    list_filter = ("source", "status", "signature_valid")
    search_fields = ("external_id",)
    exclude = ("headers",)
    show_full_result_count = False


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "status", "mime", "size_bytes", "uploader", "network")
    list_filter = ("network", "kind", "status")
    search_fields = ("id", "filename", "uploader__email")
    list_select_related = ("uploader", "network")
    show_full_result_count = False
