from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Notification, PushNotificationToken


class _ReadOnly(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(_ReadOnly):
    """Read-only delivery log (one row per notice and channel)."""

    list_display = (
        "kind",
        "channel",
        "status",
        "skip_reason",
        "attempts",
        "recipient",
        "sent_at",
        "created_at",
    )
    list_filter = ("channel", "status", "is_digest", "kind", "network")
    search_fields = ("title", "dedupe_key", "recipient__email", "recipient__handle")
    list_select_related = ("recipient",)
    fields = readonly_fields = (
        "recipient",
        "network",
        "inbox_item",
        "kind",
        "channel",
        "title",
        "body",
        "data",
        "status",
        "skip_reason",
        "attempts",
        "error",
        "dedupe_key",
        "is_digest",
        "next_attempt_at",
        "sent_at",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("inbox_item",)
    date_hierarchy = "created_at"


@admin.register(PushNotificationToken)
class PushNotificationTokenAdmin(_ReadOnly):
    """Devices: the token (a push credential) is never shown, only its hint."""

    list_display = (
        "user",
        "platform",
        "provider",
        "token_hint",
        "device_label",
        "enabled",
        "failure_count",
        "last_seen_at",
    )
    list_filter = ("platform", "provider", "enabled", "network")
    search_fields = ("user__email", "user__handle", "device_label", "token_hint")
    list_select_related = ("user",)
    fields = readonly_fields = (
        "user",
        "network",
        "platform",
        "provider",
        "token_hint",
        "device_label",
        "app_version",
        "enabled",
        "failure_count",
        "last_seen_at",
        "created_at",
        "updated_at",
    )
