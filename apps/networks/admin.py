from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from apps.core.exceptions import DomainError

from . import services
from .models import Network
from .settings_schema import SettingsInvalid, clean_settings


class NetworkAdminForm(forms.ModelForm):
    class Meta:
        model = Network
        fields = (
            "name",
            "slug",
            "domain",
            "is_default",
            "invite_only",
            "signup_enabled",
            "settings",
            "branding",
            "from_email",
        )

    def clean_settings(self):
        """The whole document against the schema (``settings_schema``), as the API checks it."""
        value = self.cleaned_data.get("settings")
        try:
            clean_settings(value if value is not None else {}, stored={})
        except SettingsInvalid as exc:
            raise forms.ValidationError(
                [f"{path}: {message}" for path, message in exc.errors.items()]
            ) from None
        return value


@admin.register(Network)
class NetworkAdmin(admin.ModelAdmin):
    form = NetworkAdminForm
    list_display = (
        "name",
        "slug",
        "domain",
        "status",
        "is_default",
        "invite_only",
        "signup_enabled",
        "created_at",
    )
    list_filter = ("status", "invite_only", "signup_enabled")
    search_fields = ("name", "slug", "domain")
    readonly_fields = ("status", "created_at", "updated_at")
    prepopulated_fields = {"slug": ("name",)}
    actions = ("suspend", "unsuspend", "archive")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # networks are archived, never deleted

    def _run(self, request, queryset, fn, verb):
        done = 0
        for network in queryset:
            try:
                fn(actor=request.user, network=network)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{network}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} network(s).", messages.SUCCESS)

    @admin.action(description="Suspend selected networks")
    def suspend(self, request, queryset):
        self._run(request, queryset, services.suspend_network, "Suspended")

    @admin.action(description="Unsuspend selected networks")
    def unsuspend(self, request, queryset):
        self._run(request, queryset, services.unsuspend_network, "Unsuspended")

    @admin.action(description="Archive selected networks")
    def archive(self, request, queryset):
        self._run(request, queryset, services.archive_network, "Archived")
