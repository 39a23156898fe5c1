"""Back office for invites: the waitlist ("invite selected"), waves (release now, pause, cancel),
codes (usage, revoke, CSV export, bulk generation with a progress bar). Every change calls a service.
"""

from __future__ import annotations

import csv
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.core.exceptions import DomainError
from apps.networks.models import Network
from apps.organizations import roles

from . import services
from .models import InviteCode, InviteCodeKind, InviteRedemption, InviteWaitlist, InviteWaveConfig

BULK_PROGRESS_TTL = 3600


def _refusal(request: HttpRequest, exc: DomainError) -> None:
    messages.error(request, f"{exc.message} ({exc.code})")


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: list[str], rows: Any) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def generate():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(generate(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class VerifiedFilter(admin.SimpleListFilter):
    title = "email confirmed"
    parameter_name = "verified"

    def lookups(self, request, model_admin):
        return (("yes", "Confirmed"), ("no", "Not confirmed"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(email_verified_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(email_verified_at__isnull=True)
        return queryset


@admin.register(InviteWaitlist)
class InviteWaitlistAdmin(admin.ModelAdmin):
    list_display = (
        "position",
        "email",
        "name",
        "status",
        "priority_score",
        "verified_referral_count",
        "email_verified_at",
        "invited_at",
        "network",
    )
    list_filter = ("status", VerifiedFilter, "network", "wave")
    search_fields = ("email", "name", "referral_code")
    ordering = ("network", "priority_score", "position")
    list_select_related = ("network",)
    # read-only (tokens are never shown): changes go through the actions
    fields = readonly_fields = [
        f.name
        for f in InviteWaitlist._meta.fields
        if f.name not in ("verify_token_hash", "access_token_hash")
    ]
    actions = ("invite_selected", "export_csv")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Invite selected (confirmed, waiting) entries now")
    def invite_selected(self, request: HttpRequest, queryset) -> None:
        invited = 0
        for network_id in queryset.values_list("network_id", flat=True).distinct():
            network = Network.objects.get(pk=network_id)
            try:
                invited += services.invite_entries(
                    actor=request.user, network=network, entries=list(queryset.filter(network_id=network_id))
                )
            except DomainError as exc:
                _refusal(request, exc)
        messages.success(
            request, f"Invited {invited} entries (unconfirmed or no longer waiting ones were skipped)."
        )

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request: HttpRequest, queryset) -> StreamingHttpResponse:
        fields = [
            "position",
            "email",
            "name",
            "status",
            "priority_score",
            "verified_referral_count",
            "email_verified_at",
            "invited_at",
            "created_at",
        ]
        rows = queryset.order_by("network_id", "position").values_list(*fields).iterator()
        return csv_response("waitlist.csv", fields, rows)


@admin.register(InviteWaveConfig)
class InviteWaveAdmin(admin.ModelAdmin):
    list_display = (
        "wave_number",
        "name",
        "network",
        "status",
        "scheduled_at",
        "invite_count",
        "released_count",
        "released_at",
    )
    list_filter = ("status", "network")
    list_select_related = ("network",)
    readonly_fields = ("status", "released_at", "released_count", "created_by", "wave_number")
    fields = (
        "network",
        "name",
        "wave_number",
        "status",
        "scheduled_at",
        "invite_count",
        "codes_per_user",
        "code_max_uses",
        "code_ttl_days",
        "repeat_every",
        "auto_continue",
        "released_at",
        "released_count",
        "created_by",
    )
    actions = ("release_now", "pause", "resume", "cancel")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        locked = () if obj.status in ("scheduled", "paused") else tuple(services.waves.EDITABLE)
        return (*self.readonly_fields, "network", *locked)

    def get_form(self, request, obj=None, change=False, **kwargs):
        editable = [
            name for name in services.waves.EDITABLE if obj is None or obj.status in ("scheduled", "paused")
        ]
        form = super().get_form(request, obj, change, **{**kwargs, "fields": editable})
        if obj is None:  # the model's network is not editable: chosen on the form when adding
            form.base_fields["network"] = forms.ModelChoiceField(queryset=Network.objects.all())
        return form

    def save_model(self, request, obj, form, change) -> None:
        data = {k: v for k, v in form.cleaned_data.items() if k in services.waves.EDITABLE}
        try:
            if change:
                changed = {k: v for k, v in data.items() if k in form.changed_data}
                saved = services.update_wave(actor=request.user, wave=obj, changes=changed)
            else:
                saved = services.create_wave(actor=request.user, network=form.cleaned_data["network"], **data)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        obj.pk, obj.wave_number = saved.pk, saved.wave_number

    def _each(self, request: HttpRequest, queryset, service, label: str) -> None:
        done = 0
        for wave in queryset:
            try:
                service(actor=request.user, wave=wave)
                done += 1
            except DomainError as exc:
                _refusal(request, exc)
        if done:
            messages.success(request, f"{label}: {done} wave(s).")

    @admin.action(description="Release now")
    def release_now(self, request, queryset) -> None:
        self._each(request, queryset, services.release_now, "Released")

    @admin.action(description="Pause")
    def pause(self, request, queryset) -> None:
        self._each(request, queryset, services.pause_wave, "Paused")

    @admin.action(description="Resume (paused → scheduled)")
    def resume(self, request, queryset) -> None:
        self._each(request, queryset, services.resume_wave, "Resumed")

    @admin.action(description="Cancel")
    def cancel(self, request, queryset) -> None:
        self._each(request, queryset, services.cancel_wave, "Cancelled")


class UsageFilter(admin.SimpleListFilter):
    title = "usage"
    parameter_name = "usage"

    def lookups(self, request, model_admin):
        return (("unused", "Unused"), ("used", "Used at least once"), ("revoked", "Revoked"))

    def queryset(self, request, queryset):
        if self.value() == "unused":
            return queryset.filter(use_count=0, revoked_at__isnull=True)
        if self.value() == "used":
            return queryset.filter(use_count__gt=0)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class BulkCodesForm(forms.Form):
    network = forms.ModelChoiceField(queryset=Network.objects.all())
    count = forms.IntegerField(min_value=1, max_value=100_000, initial=100)
    kind = forms.ChoiceField(choices=InviteCodeKind.choices, initial=InviteCodeKind.STAFF)
    max_uses = forms.IntegerField(min_value=1, initial=1)
    expires_at = forms.DateTimeField(required=False, help_text="Empty: never expires.")
    organization = forms.UUIDField(required=False, help_text="Grant: membership of this organization (id).")
    role = forms.ChoiceField(
        choices=[(r, r) for r in roles.ALL_ROLES if r != roles.OWNER], initial=roles.MEMBER
    )
    note = forms.CharField(max_length=200, required=False)


def _progress_key(job: str) -> str:
    return f"invites:bulk:{job}"


@admin.register(InviteCode)
class InviteCodeAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "kind",
        "network",
        "owner",
        "bound_email",
        "usage",
        "expires_at",
        "revoked_at",
        "created_at",
    )
    list_filter = ("kind", UsageFilter, "network")
    search_fields = ("code", "bound_email", "owner__email", "note")
    list_select_related = ("network", "owner")
    readonly_fields = [f.name for f in InviteCode._meta.fields]
    actions = ("revoke", "export_csv")
    change_list_template = "admin/invites/invitecode/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="uses")
    def usage(self, obj: InviteCode) -> str:
        return f"{obj.use_count} / {obj.max_uses}"

    @admin.action(description="Revoke selected codes")
    def revoke(self, request, queryset) -> None:
        done = 0
        for code in queryset:
            try:
                services.revoke_code(actor=request.user, code=code)
                done += 1
            except DomainError as exc:
                _refusal(request, exc)
        messages.success(request, f"Revoked {done} code(s).")

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset) -> StreamingHttpResponse:
        fields = [
            "code",
            "kind",
            "bound_email",
            "max_uses",
            "use_count",
            "expires_at",
            "revoked_at",
            "note",
            "created_at",
        ]
        rows = queryset.order_by("id").values_list(*fields).iterator()
        return csv_response("invite-codes.csv", fields, rows)

    def get_urls(self):
        return [
            path(
                "generate/",
                self.admin_site.admin_view(self.generate_view),
                name="invites_invitecode_generate",
            ),
            path(
                "generate/<str:job>/progress.json",
                self.admin_site.admin_view(self.progress_view),
                name="invites_invitecode_progress",
            ),
            *super().get_urls(),
        ]

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        """Bulk generation runs in Celery (committed per 1,000); this page polls its progress."""
        job = request.GET.get("job")
        form = BulkCodesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            grants = (
                {"organization": str(data["organization"]), "role": data["role"]}
                if data["organization"]
                else {}
            )
            try:
                services.validate_grants(actor=request.user, network=data["network"], grants=grants)
            except DomainError as exc:
                form.add_error("organization", exc.message)
            else:
                from . import tasks

                job = uuid.uuid4().hex
                cache.set(
                    _progress_key(job),
                    {"done": 0, "total": data["count"], "state": "queued"},
                    BULK_PROGRESS_TTL,
                )
                tasks.generate_codes.delay(
                    job,
                    {
                        "network_id": str(data["network"].pk),
                        "actor_id": str(request.user.pk),
                        "count": data["count"],
                        "kind": data["kind"],
                        "max_uses": data["max_uses"],
                        "expires_at": data["expires_at"].isoformat() if data["expires_at"] else None,
                        "grants": grants,
                        "note": data["note"],
                    },
                )
                return redirect(f"{reverse('admin:invites_invitecode_generate')}?job={job}")
        context = {
            **self.admin_site.each_context(request),
            "title": "Generate invite codes",
            "form": form,
            "job": job,
            "progress_url": reverse("admin:invites_invitecode_progress", args=[job]) if job else "",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/invites/invitecode/generate.html", context)

    def progress_view(self, request: HttpRequest, job: str) -> JsonResponse:
        return JsonResponse(cache.get(_progress_key(job)) or {"done": 0, "total": 0, "state": "unknown"})


@admin.register(InviteRedemption)
class InviteRedemptionAdmin(admin.ModelAdmin):
    list_display = ("code", "user", "network", "created_at")
    list_select_related = ("code", "user", "network")
    search_fields = ("code__code", "user__email")
    readonly_fields = ("code", "user", "ip_hash", "network", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
