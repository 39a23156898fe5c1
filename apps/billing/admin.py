"""Billing admin.

AI: provider configs (keys write-only, hints only; staff create the network
configs — the platform key — here; verify), model prices (editable, with
effective dates), usage read-only with totals, the daily roll-up read-only.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest

from apps.core.exceptions import DomainError
from apps.networks.models import Network

from .models import AIProviderConfig, AIUsage, AIUsageDaily, ModelPrice
from .services import ai_configs

# --- AI providers and usage ------------------------------------------------------


class AIProviderConfigForm(forms.ModelForm):
    target_network = forms.ModelChoiceField(
        queryset=Network.objects.all(), label="Network", help_text="Only used when creating."
    )
    new_api_key = forms.CharField(
        label="API key",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored key. Stored encrypted; only a hint is ever shown.",
    )
    new_extra_headers = forms.CharField(
        label="Extra headers (JSON object)",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored headers.",
    )

    class Meta:
        model = AIProviderConfig
        fields = (
            "scope",
            "owner_user",
            "owner_organization",
            "name",
            "provider",
            "base_url",
            "default_model",
            "allowed_models",
            "is_default",
            "enabled",
            "monthly_budget_micros",
        )

    def clean_new_extra_headers(self) -> Any:
        raw = self.cleaned_data.get("new_extra_headers")
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError("Enter a JSON object.") from exc


@admin.register(AIProviderConfig)
class AIProviderConfigAdmin(admin.ModelAdmin):
    form = AIProviderConfigForm
    list_display = (
        "name",
        "scope",
        "owner_user",
        "owner_organization",
        "network",
        "provider",
        "default_model",
        "api_key_hint",
        "is_default",
        "enabled",
        "last_verified_at",
    )
    list_filter = ("scope", "provider", "enabled", "network")
    search_fields = ("name", "base_url", "owner_user__email", "owner_organization__name")
    list_select_related = ("owner_user", "owner_organization", "network")
    raw_id_fields = ("owner_user", "owner_organization")
    readonly_fields = ("api_key_hint", "extra_headers_hint", "last_verified_at", "last_error", "deleted_at")
    actions = ("verify",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            field = copy.copy(form.base_fields["target_network"])
            field.required, field.initial, field.disabled = False, obj.network_id, True
            form.base_fields["target_network"] = field
        return form

    def save_model(self, request: HttpRequest, obj: AIProviderConfig, form: Any, change: bool) -> None:
        data = dict(form.cleaned_data)
        api_key = data.pop("new_api_key", None)
        headers = data.pop("new_extra_headers", None)
        try:
            if change:
                changes = {k: data[k] for k in ai_configs.EDITABLE if k in data and k in form.changed_data}
                if api_key:
                    changes["api_key"] = api_key
                if headers is not None:
                    changes["extra_headers"] = headers
                ai_configs.update_provider_config(actor=request.user, config=obj, changes=changes)
            else:
                created = ai_configs.create_provider_config(
                    actor=request.user,
                    network=data["target_network"],
                    owner_user=data.get("owner_user"),
                    scope=data["scope"],
                    owner_organization=data.get("owner_organization"),
                    name=data["name"],
                    provider=data["provider"],
                    base_url=data["base_url"],
                    api_key=api_key or None,
                    extra_headers=headers,
                    default_model=data["default_model"],
                    allowed_models=data.get("allowed_models") or [],
                    is_default=data.get("is_default", False),
                    enabled=data.get("enabled", True),
                    monthly_budget_micros=data.get("monthly_budget_micros"),
                )
                obj.pk = created.pk
        except DomainError as exc:
            messages.error(request, exc.message)

    def delete_model(self, request: HttpRequest, obj: AIProviderConfig) -> None:
        ai_configs.delete_provider_config(actor=request.user, config=obj)

    @admin.action(description="Verify (a 1-token call)")
    def verify(self, request: HttpRequest, queryset: QuerySet[AIProviderConfig]) -> None:
        for config in queryset:
            try:
                config = ai_configs.verify_provider_config(actor=request.user, config=config)
            except DomainError as exc:
                messages.error(request, f"{config.name}: {exc.message}")
                continue
            if config.last_error:
                messages.warning(request, f"{config.name}: {config.last_error}")
            else:
                messages.success(request, f"{config.name}: verified")


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "provider",
        "model",
        "input_per_mtok_micros",
        "output_per_mtok_micros",
        "cached_input_per_mtok_micros",
        "effective_at",
    )
    list_filter = ("provider",)
    search_fields = ("model",)
    ordering = ("provider", "model", "-effective_at")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AIUsage)
class AIUsageAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "user",
        "agent",
        "organization",
        "model",
        "feature",
        "input_tokens",
        "output_tokens",
        "cost_micros",
        "is_byok",
        "price_missing",
        "status",
        "latency_ms",
    )
    list_filter = ("status", "feature", "is_byok", "price_missing", "provider", "network")
    search_fields = ("model", "user__handle", "agent__handle", "request_ref")
    list_select_related = ("user", "agent", "organization")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            totals = changelist.queryset.aggregate(
                calls=Count("id"),
                cost=Sum("cost_micros"),
                input_tokens=Sum("input_tokens"),
                output_tokens=Sum("output_tokens"),
            )
            response.context_data["title"] = (
                f"AI usage — {totals['calls']} calls, {(totals['cost'] or 0) / 1e6:.6f} USD, "
                f"{totals['input_tokens'] or 0} in / {totals['output_tokens'] or 0} out tokens"
            )
        return response


@admin.register(AIUsageDaily)
class AIUsageDailyAdmin(_ReadOnly):
    list_display = ("day", "user", "agent", "organization", "model", "is_byok", "calls", "cost_micros")
    list_filter = ("is_byok", "network")
    list_select_related = ("user", "agent", "organization")
    date_hierarchy = "day"
    show_full_result_count = False


from . import stripe_admin  # noqa: E402,F401 — the Stripe screens
