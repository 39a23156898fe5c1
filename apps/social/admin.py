"""Back office for staff: posts (filters, moderation actions), the reports queue, communities,
tags and the moderation log. Every action calls the same service as the API (and is logged)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet

from apps.core.admin import ReadOnlyAdmin
from apps.core.exceptions import DomainError

from . import services
from .models import Community, ModerationLogEntry, Post, Report, Tag


def _each(modeladmin: admin.ModelAdmin, request, queryset: QuerySet, action, label: str) -> None:
    done, failed = 0, []
    for obj in queryset:
        try:
            action(obj)
            done += 1
        except DomainError as exc:
            failed.append(f"{obj}: {exc.message}")
    if done:
        modeladmin.message_user(request, f"{label}: {done}.", messages.SUCCESS)
    for line in failed[:20]:
        modeladmin.message_user(request, line, messages.WARNING)


class _ServiceEditedAdmin(admin.ModelAdmin):
    """Rows that change only through the services (the actions): every shown field is read-only,
    none is added here."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields if f.name not in (self.exclude or ())]

    def has_add_permission(self, request) -> bool:
        return False


class ReportedFilter(admin.SimpleListFilter):
    title = "reported"
    parameter_name = "reported"

    def lookups(self, request, model_admin):
        return (("yes", "With open reports"), ("no", "Without"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(report_count__gt=0)
        if self.value() == "no":
            return queryset.filter(report_count=0)
        return queryset


class RootFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "root"

    def lookups(self, request, model_admin):
        return (("yes", "Root posts"), ("no", "Replies"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(reply_to__isnull=self.value() == "yes")
        return queryset


@admin.register(Post)
class PostAdmin(_ServiceEditedAdmin):
    list_display = (
        "id",
        "author",
        "community",
        "status",
        "reply_count",
        "score",
        "report_count",
        "created_at",
    )
    list_filter = ("network", "status", "author__is_ai", ReportedFilter, RootFilter, "community")
    search_fields = ("id", "author__handle", "body")
    list_select_related = ("author", "community")
    raw_id_fields = ("author", "owner_user", "owner_organization", "community", "reply_to", "thread_root")
    exclude = ("search_vector",)
    actions = ("hide", "unhide", "lock", "delete_posts", "ban_author")
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleting is a tombstone: the "delete" action

    @admin.action(description="Hide")
    def hide(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda p: services.hide_post(actor=request.user, post=p, reason="admin"),
            "Hidden",
        )

    @admin.action(description="Unhide")
    def unhide(self, request, queryset):
        _each(self, request, queryset, lambda p: services.unhide_post(actor=request.user, post=p), "Unhidden")

    @admin.action(description="Lock thread")
    def lock(self, request, queryset):
        _each(self, request, queryset, lambda p: services.lock_thread(actor=request.user, post=p), "Locked")

    @admin.action(description="Delete (tombstone)")
    def delete_posts(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda p: services.delete_post(actor=request.user, post=p, reason="admin"),
            "Deleted",
        )

    @admin.action(description="Ban author from the post's community")
    def ban_author(self, request, queryset):
        def ban(post: Post) -> None:
            if post.community is None:
                raise DomainError("not in a community")
            services.ban_member(
                actor=request.user, community=post.community, user=post.author, reason="admin"
            )

        _each(self, request, queryset.select_related("community", "author"), ban, "Banned")


@admin.register(Report)
class ReportAdmin(_ServiceEditedAdmin):
    list_display = ("id", "reason", "status", "reporter", "post", "reported_user", "community", "created_at")
    list_filter = ("status", "reason", "network")
    list_select_related = ("reporter", "post", "reported_user", "community")
    search_fields = ("id", "reporter__handle", "details")
    actions = ("dismiss", "action_hide")
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Dismiss")
    def dismiss(self, request, queryset):
        _each(
            self, request, queryset,
            lambda r: services.resolve_report(actor=request.user, report=r, status="dismissed"), "Dismissed",
        )  # fmt: skip

    @admin.action(description="Action: hide the reported post")
    def action_hide(self, request, queryset):
        _each(
            self, request, queryset,
            lambda r: services.resolve_report(actor=request.user, report=r, status="actioned", action="hide"),
            "Actioned",
        )  # fmt: skip


@admin.register(Community)
class CommunityAdmin(_ServiceEditedAdmin):
    list_display = (
        "slug",
        "name",
        "visibility",
        "owner_user",
        "owner_organization",
        "member_count",
        "post_count",
        "archived_at",
    )
    list_filter = ("network", "visibility")
    search_fields = ("slug", "name")
    list_select_related = ("owner_user", "owner_organization")
    show_full_result_count = False


@admin.register(Tag)
class TagAdmin(_ServiceEditedAdmin):
    list_display = ("slug", "network", "post_count", "is_blocked")
    list_filter = ("network", "is_blocked")
    search_fields = ("slug",)
    list_select_related = ("network",)
    actions = ("block", "unblock")
    show_full_result_count = False

    @admin.action(description="Block")
    def block(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda t: services.set_tag_blocked(actor=request.user, tag=t, blocked=True),
            "Blocked",
        )

    @admin.action(description="Unblock")
    def unblock(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda t: services.set_tag_blocked(actor=request.user, tag=t, blocked=False),
            "Unblocked",
        )


@admin.register(ModerationLogEntry)
class ModerationLogAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "action",
        "moderator",
        "community",
        "target_type",
        "target_id",
        "expires_at",
    )
    list_filter = ("action", "target_type", "network")
    search_fields = ("target_id", "moderator__handle", "reason")
    list_select_related = ("moderator", "community")
    show_full_result_count = False
