"""Back office: projects with their infrastructure (secrets only as hints)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.exceptions import DomainError

from . import services
from .models import Database, Deployment, Project, Sandbox, StorageBucket


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SandboxInline(_ReadOnlyInline):
    model = Sandbox
    fields = readonly_fields = (
        "name",
        "image",
        "status",
        "access_url",
        "access_secret_hint",
        "last_active_at",
        "updated_at",
    )


class DeploymentInline(_ReadOnlyInline):
    model = Deployment
    fields = readonly_fields = ("environment", "git_ref", "commit_sha", "status", "site_url", "finished_at")


class StorageBucketInline(_ReadOnlyInline):
    model = StorageBucket
    fields = readonly_fields = (
        "name",
        "bucket_name",
        "status",
        "access_key_id_hint",
        "secret_access_key_hint",
        "size_bytes",
        "object_count",
    )


class DatabaseInline(_ReadOnlyInline):
    model = Database
    fields = readonly_fields = ("name", "db_name", "role_name", "status", "connection_url_hint", "size_bytes")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "owner_user",
        "owner_organization",
        "network",
        "visibility",
        "status",
        "created_at",
    )
    list_filter = ("network", "status", "visibility")
    search_fields = ("name", "slug", "owner_user__email", "owner_user__handle", "owner_organization__name")
    list_select_related = ("owner_user", "owner_organization", "network")
    fields = (
        "name",
        "slug",
        "network",
        "owner_user",
        "owner_organization",
        "description",
        "visibility",
        "status",
        "repo_url",
        "default_branch",
        "github_token_hint",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (SandboxInline, DeploymentInline, StorageBucketInline, DatabaseInline)
    actions = ("archive", "force_destroy")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return False  # force-destroy tears the infrastructure down first

    @admin.action(description="Archive selected projects")
    def archive(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        done = 0
        for project in queryset:
            try:
                services.archive_project(actor=request.user, project=project)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{project}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Archived {done} project(s).")

    @admin.action(description="Force-destroy selected projects (infrastructure and data)")
    def force_destroy(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        done = 0
        for project in queryset:
            services.force_destroy_project(actor=request.user, project=project)
            done += 1
        self.message_user(request, f"Destroyed {done} project(s); their infrastructure is being removed.")
