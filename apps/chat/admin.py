"""Back office for chat: conversations (title/topic/archive), members read-only, messages read-only
and searchable for reports; deletion goes through the service (a tombstone, audited)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import Conversation, ConversationMember, Message


class MemberInline(admin.TabularInline):
    model = ConversationMember
    fields = ("user", "role", "notify", "joined_at", "left_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    max_num = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConversationMember]:
        return super().get_queryset(request).select_related("user").filter(left_at__isnull=True)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "kind",
        "network",
        "member_count",
        "last_message_seq",
        "last_message_at",
        "archived_at",
    )
    list_filter = ("kind", "network")
    search_fields = ("title", "topic", "=id", "direct_key")
    list_select_related = ("network",)
    fields = (
        "network",
        "kind",
        "title",
        "topic",
        "project",
        "community",
        "organization",
        "direct_key",
        "created_by",
        "member_count",
        "last_message_seq",
        "last_message_at",
        "archived_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "network",
        "kind",
        "project",
        "community",
        "organization",
        "direct_key",
        "created_by",
        "member_count",
        "last_message_seq",
        "last_message_at",
        "created_at",
        "updated_at",
    )
    inlines = [MemberInline]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("__str__", "sender", "kind", "short_body", "edited_at", "deleted_at", "created_at")
    list_filter = ("kind", "network", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("body", "=id", "=conversation__id", "sender__handle")
    list_select_related = ("sender", "conversation")
    fields = (
        "network",
        "conversation",
        "seq",
        "sender",
        "kind",
        "body",
        "reply_to",
        "thread_root",
        "reply_count",
        "client_id",
        "mentioned_user_ids",
        "edit_history",
        "edited_at",
        "deleted_at",
        "metadata",
        "created_at",
    )
    readonly_fields = fields
    actions = ["delete_through_service"]
    show_full_result_count = False

    @admin.display(description="body")
    def short_body(self, obj: Message) -> str:
        return "(deleted)" if obj.deleted_at else (obj.body[:80] + ("…" if len(obj.body) > 80 else ""))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False  # rows are never removed here; the action below tombstones them

    @admin.action(description="Delete selected messages (tombstone, audited)")
    def delete_through_service(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = 0
        for message in queryset.select_related("conversation"):
            services.moderate_delete_message(actor=request.user, message=message)
            count += 1
        self.message_user(request, f"{count} message(s) deleted.", messages.SUCCESS)
