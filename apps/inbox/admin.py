from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import InboxItem


@admin.register(InboxItem)
class InboxItemAdmin(admin.ModelAdmin):
    """Read-only: items are written only by the domains' calls to ``deliver_inbox_item``."""

    list_display = (
        "kind",
        "title",
        "recipient",
        "actor",
        "actor_count",
        "target_type",
        "read_at",
        "archived_at",
        "action_state",
        "last_event_at",
        "network",
    )
    list_filter = ("kind", "action_state", "requires_action", "network")
    search_fields = ("title", "recipient__email", "recipient__handle", "=target_id")
    list_select_related = ("recipient", "actor", "network")
    readonly_fields = [f.name for f in InboxItem._meta.concrete_fields]
    fields = readonly_fields
    show_full_result_count = False
    date_hierarchy = "last_event_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboxItem | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: InboxItem | None = None) -> bool:
        return False
