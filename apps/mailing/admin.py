"""Back office for campaigns: progress bars, state actions and edits through the services, an HTML
preview; sends read-only; suppressions with a CSV import.
"""

from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.exceptions import DomainError
from apps.networks.models import Network

from . import services
from .models import EmailCampaign, EmailSend, EmailSuppression, SuppressionReason, SuppressionScope

MAX_IMPORT_ROWS = 100_000


def _refusal(request: HttpRequest, exc: DomainError) -> None:
    messages.error(request, f"{exc.message} ({exc.code})")


def progress_bar(campaign: EmailCampaign) -> str:
    done = campaign.sent_count + campaign.failed_count
    return format_html(
        '<progress max="{}" value="{}" style="width:10em" title="{} of {}"></progress> {} / {}',
        campaign.recipient_count or 1,
        done,
        done,
        campaign.recipient_count,
        campaign.sent_count,
        campaign.recipient_count,
    )


class CampaignForm(forms.ModelForm):
    network = forms.ModelChoiceField(queryset=Network.objects.all())

    class Meta:
        model = EmailCampaign
        fields = (
            "name",
            "kind",
            "subject",
            "preheader",
            "from_name",
            "from_email",
            "reply_to_email",
            "html_body",
            "text_body",
            "audience",
            "ses_configuration_set",
            "rate_per_second",
            "batch_size",
            "max_error_ratio",
        )


@admin.register(EmailCampaign)
class EmailCampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = (
        "name",
        "network",
        "kind",
        "status",
        "progress",
        "scheduled_at",
        "rate_per_second",
        "failed_count",
        "created_at",
    )
    list_filter = ("status", "kind", "network")
    search_fields = ("name", "subject")
    list_select_related = ("network",)
    actions = ("send_now", "pause", "resume", "cancel")
    readonly_fields = (
        "status",
        "paused_reason",
        "progress",
        "preview",
        "scheduled_at",
        "started_at",
        "finished_at",
        "audience_frozen_at",
        "recipient_count",
        "sent_count",
        "delivered_count",
        "bounced_count",
        "complained_count",
        "opened_count",
        "clicked_count",
        "unsubscribed_count",
        "suppressed_count",
        "failed_count",
        "created_by",
    )

    @admin.display(description="sent")
    def progress(self, obj: EmailCampaign) -> str:
        return progress_bar(obj)

    @admin.display(description="HTML preview")
    def preview(self, obj: EmailCampaign) -> str:
        # a sandboxed iframe: the campaign's HTML runs no script and reaches nothing of the admin
        return format_html(
            '<iframe sandbox="" srcdoc="{}" style="width:100%;min-height:420px;border:1px solid #ccc"></iframe>',
            obj.html_body or "<p>(no HTML body)</p>",
        )

    def get_fields(self, request, obj=None):
        fields = list(CampaignForm.Meta.fields)
        if obj is None:
            return ["network", *fields]
        return [*fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != "draft":
            return (*CampaignForm.Meta.fields, *self.readonly_fields)
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        # ``network`` is declared on the form (the model field is not editable): only when adding
        kwargs["fields"] = list(CampaignForm.Meta.fields) if obj is None or obj.status == "draft" else []
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            form.base_fields.pop("network", None)
        return form

    def save_model(self, request, obj, form, change) -> None:
        data = {k: v for k, v in form.cleaned_data.items() if k in CampaignForm.Meta.fields}
        try:
            if change:
                saved = services.update_campaign(
                    actor=request.user,
                    campaign=obj,
                    changes={k: data[k] for k in form.changed_data if k in data},
                )
            else:
                saved = services.create_campaign(
                    actor=request.user, network=form.cleaned_data["network"], **data
                )
        except DomainError as exc:
            raise ValidationError(exc.message) from exc
        obj.pk = saved.pk

    def _each(self, request, queryset, service, label: str) -> None:
        done = 0
        for campaign in queryset:
            try:
                service(actor=request.user, campaign=campaign)
                done += 1
            except DomainError as exc:
                _refusal(request, exc)
        if done:
            messages.success(request, f"{label}: {done} campaign(s).")

    @admin.action(description="Send now")
    def send_now(self, request, queryset) -> None:
        self._each(request, queryset, services.send_campaign_now, "Started")

    @admin.action(description="Pause")
    def pause(self, request, queryset) -> None:
        self._each(request, queryset, services.pause_campaign, "Paused")

    @admin.action(description="Resume")
    def resume(self, request, queryset) -> None:
        self._each(request, queryset, services.resume_campaign, "Resumed")

    @admin.action(description="Cancel")
    def cancel(self, request, queryset) -> None:
        self._each(request, queryset, services.cancel_campaign, "Cancelled")


@admin.register(EmailSend)
class EmailSendAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "campaign",
        "status",
        "sent_at",
        "delivered_at",
        "bounced_at",
        "bounce_type",
        "attempts",
    )
    list_filter = ("status", "bounce_type")
    search_fields = ("email", "ses_message_id")
    list_select_related = ("campaign",)
    readonly_fields = [f.name for f in EmailSend._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SuppressionImportForm(forms.Form):
    network = forms.ModelChoiceField(queryset=Network.objects.all())
    scope = forms.ChoiceField(choices=SuppressionScope.choices, initial=SuppressionScope.CAMPAIGNS)
    file = forms.FileField(help_text="CSV: one address per row (first column); a header row is skipped.")


@admin.register(EmailSuppression)
class EmailSuppressionAdmin(admin.ModelAdmin):
    list_display = ("email", "network", "scope", "reason", "expires_at", "created_at")
    list_filter = ("scope", "reason", "network")
    search_fields = ("email",)
    list_select_related = ("network",)
    readonly_fields = [f.name for f in EmailSuppression._meta.fields]
    change_list_template = "admin/mailing/emailsuppression/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj) -> None:
        services.remove_suppression(actor=request.user, suppression=obj)

    def delete_queryset(self, request, queryset) -> None:
        for row in queryset:
            services.remove_suppression(actor=request.user, suppression=row)

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="mailing_emailsuppression_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        form = SuppressionImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            network, scope = form.cleaned_data["network"], form.cleaned_data["scope"]
            text = io.TextIOWrapper(form.cleaned_data["file"].file, encoding="utf-8", errors="replace")
            added = skipped = 0
            for number, row in enumerate(csv.reader(text)):
                if number >= MAX_IMPORT_ROWS:
                    break
                address = (row[0] if row else "").strip().lower()
                try:
                    validate_email(address)
                except ValidationError:
                    skipped += 1
                    continue
                _row, created = services.suppress(
                    network_id=network.pk,
                    email=address,
                    scope=scope,
                    reason=SuppressionReason.MANUAL,
                    created_by=request.user,
                )
                added += int(created)
            messages.success(request, f"Imported {added} suppression(s); {skipped} row(s) skipped.")
            return redirect(reverse("admin:mailing_emailsuppression_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import suppressions",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/mailing/emailsuppression/import.html", context)
