"""Admin screens of the Stripe half (imported by ``apps.billing.admin``). No secrets are shown:
the API key and webhook secret live in settings only; Stripe object ids are references."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.exceptions import DomainError

from .models import (
    BillingCheckoutSession,
    BillingInvoice,
    BillingPlan,
    BillingStripeAccount,
    ConnectPayout,
    CreditLedgerEntry,
    SeatChange,
    StripeEvent,
    SubscriptionAccount,
    UsageReport,
)


class CreditAdjustmentForm(forms.Form):
    """A staff grant or correction of an account's prepaid credits (through the ledger service)."""

    amount_minor = forms.IntegerField(
        label="Amount (cents)",
        min_value=-(10**9),
        max_value=10**9,
        help_text="Positive grants credit, negative takes it back (never below a zero balance).",
    )
    reason = forms.CharField(max_length=200, help_text="Kept on the ledger entry and in the audit log.")
    #: drawn when the form is shown: submitting the same form twice credits once
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount_minor(self) -> int:
        amount = self.cleaned_data["amount_minor"]
        if amount == 0:
            raise forms.ValidationError("Give a non-zero amount.")
        return amount

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give the reason for the adjustment.")
        return reason


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BillingPlan)
class BillingPlanAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "stripe_price_id",
        "per_seat",
        "min_seats",
        "max_seats",
        "included_ai_micros",
        "allows_overage",
        "is_active",
    )
    list_editable = ("stripe_price_id", "is_active")
    ordering = ("position",)


class CreditEntryInline(admin.TabularInline):
    model = CreditLedgerEntry
    fields = ("created_at", "kind", "amount_minor", "balance_after_minor", "memo", "created_by")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-id",)
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("created_by")


_ACCOUNT_READONLY = (
    "network",
    "owner_user",
    "owner_organization",
    "stripe_customer_id",
    "stripe_subscription_id",
    "plan",
    "subscription_status",
    "current_period_end_at",
    "cancel_at_period_end",
    "seats",
    "seats_used",
    "payment_method_hint",
    "included_ai_micros",
    "subscription_synced_at",
    "stripe_connect_account_id",
    "connect_charges_enabled",
    "connect_payouts_enabled",
    "connect_details_submitted",
    "connect_requirements_due",
    "credit_balance_minor",
    "currency",
)


@admin.register(BillingStripeAccount)
class BillingStripeAccountAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner_organization",
        "owner_user",
        "plan",
        "subscription_status",
        "seats",
        "seats_used",
        "credit_balance_minor",
        "connect_payouts_enabled",
        "network",
    )
    list_filter = ("plan", "subscription_status", "connect_payouts_enabled", "network")
    search_fields = (
        "stripe_customer_id",
        "stripe_subscription_id",
        "stripe_connect_account_id",
        "owner_organization__name",
        "owner_user__email",
    )
    list_select_related = ("owner_organization", "owner_user", "network")
    readonly_fields = (*_ACCOUNT_READONLY, "adjust_credit_link")
    fields = (*_ACCOUNT_READONLY, "adjust_credit_link", "billing_email")
    inlines = (CreditEntryInline,)
    actions = ("reconcile_now",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts open through the API / lazily

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/credit/",
                self.admin_site.admin_view(self.credit_view),
                name="billing_billingstripeaccount_credit",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="credits")
    def adjust_credit_link(self, obj: BillingStripeAccount) -> str:
        if not obj.pk:
            return ""
        url = reverse("admin:billing_billingstripeaccount_credit", args=[obj.pk])
        return format_html('<a href="{}">Grant or adjust credit</a>', url)

    def credit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Grant or adjust the prepaid credit balance: ``credits.adjust_credits`` (ledger, audit)."""
        from .services.credits import adjust_credits

        account = self.get_object(request, object_id)
        if account is None:
            raise Http404("No such billing account.")
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        if request.method == "POST":
            form = CreditAdjustmentForm(request.POST)
        else:
            form = CreditAdjustmentForm(initial={"idempotency_key": uuid.uuid4()})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                entry, created = adjust_credits(
                    actor=request.user,
                    account=account,
                    amount_minor=data["amount_minor"],
                    memo=data["reason"],
                    idempotency_key=f"admin-adjust:{account.pk}:{data['idempotency_key']}",
                )
            except DomainError as exc:
                form.add_error("amount_minor" if exc.code != "idempotency_key_reused" else None, exc.message)
            else:
                if created:
                    self.message_user(
                        request,
                        f"Credited {entry.amount_minor:+d} cents; the balance is {entry.balance_after_minor}.",
                    )
                else:
                    self.message_user(
                        request, "This adjustment was already recorded; nothing changed.", messages.WARNING
                    )
                return redirect(reverse("admin:billing_billingstripeaccount_change", args=[account.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust credit: {account}",
            "form": form,
            "account": account,
            "opts": self.model._meta,
            "original": account,
        }
        return TemplateResponse(request, "admin/billing/billingstripeaccount/credit.html", context)

    @admin.action(description="Re-read the subscription from Stripe")
    def reconcile_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        from django.utils import timezone

        from .services.stripe_events import apply_subscription
        from .stripe_client import as_dict, call, stripe_client

        done = 0
        for account in queryset.filter(stripe_subscription_id__isnull=False):
            try:
                sub = as_dict(call(stripe_client().v1.subscriptions.retrieve, account.stripe_subscription_id))
                apply_subscription(account_id=account.pk, sub=sub, at=timezone.now())
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{account.pk}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} subscription(s) re-read.")


@admin.register(SubscriptionAccount)
class SubscriptionAdmin(_ReadOnly):
    list_display = (
        "id",
        "owner_organization",
        "owner_user",
        "plan",
        "subscription_status",
        "seats",
        "current_period_end_at",
        "cancel_at_period_end",
        "subscription_synced_at",
    )
    list_filter = ("plan", "subscription_status", "cancel_at_period_end")
    search_fields = ("stripe_subscription_id", "stripe_customer_id", "owner_organization__name")
    list_select_related = ("owner_organization", "owner_user")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(stripe_subscription_id__isnull=False)


@admin.register(SeatChange)
class SeatChangeAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "account",
        "previous_seats",
        "quantity",
        "stripe_quantity",
        "status",
        "attempts",
        "applied_at",
    )
    list_filter = ("status",)
    search_fields = ("account__owner_organization__name", "account__id")
    list_select_related = ("account", "account__owner_organization", "account__owner_user")
    show_full_result_count = False


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "account",
        "kind",
        "amount_minor",
        "balance_after_minor",
        "idempotency_key",
        "external_ref",
    )
    list_filter = ("kind", "network")
    search_fields = ("idempotency_key", "external_ref", "account__owner_organization__name", "account__id")
    list_select_related = ("account", "account__owner_organization", "account__owner_user")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(BillingCheckoutSession)
class BillingCheckoutSessionAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "account",
        "kind",
        "plan",
        "seats",
        "amount_minor",
        "status",
        "stripe_session_id",
    )
    list_filter = ("kind", "status")
    search_fields = ("stripe_session_id", "id")
    list_select_related = ("account", "account__owner_organization", "account__owner_user")
    show_full_result_count = False


@admin.register(BillingInvoice)
class BillingInvoiceAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "account",
        "number",
        "status",
        "amount_due_minor",
        "amount_paid_minor",
        "paid_at",
        "payment_failed_at",
    )
    list_filter = ("status",)
    search_fields = ("stripe_invoice_id", "number")
    list_select_related = ("account", "account__owner_organization", "account__owner_user")
    show_full_result_count = False


@admin.register(ConnectPayout)
class ConnectPayoutAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "account",
        "stripe_payout_id",
        "amount_minor",
        "currency",
        "status",
        "failure_code",
    )
    list_filter = ("status",)
    search_fields = ("stripe_payout_id",)
    list_select_related = ("account", "account__owner_organization", "account__owner_user")
    show_full_result_count = False


@admin.register(UsageReport)
class UsageReportAdmin(_ReadOnly):
    list_display = (
        "day",
        "account",
        "usage_micros",
        "overage_micros",
        "credits_minor",
        "metered_minor",
        "status",
        "reported_at",
    )
    list_filter = ("status",)
    search_fields = ("identifier",)
    list_select_related = ("account", "account__owner_organization", "account__owner_user")
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(StripeEvent)
class StripeEventAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "external_id",
        "event_type",
        "status",
        "signature_valid",
        "attempts",
        "processed_at",
    )
    list_filter = ("status", "signature_valid")
    search_fields = ("external_id",)
    fields = (
        "external_id",
        "network",
        "status",
        "signature_valid",
        "attempts",
        "error",
        "processed_at",
        "pretty_payload",
    )
    readonly_fields = fields
    actions = ("reprocess",)
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(source=StripeEvent.Source.STRIPE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.is_staff  # the changelist (and its action); rows stay read-only

    @admin.display(description="type")
    def event_type(self, obj: StripeEvent) -> str:
        return str((obj.payload or {}).get("type", ""))

    @admin.display(description="payload")
    def pretty_payload(self, obj: StripeEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True)[:50_000])

    @admin.action(description="Reprocess (failed or ignored, verified events)")
    def reprocess(self, request: HttpRequest, queryset: QuerySet) -> None:
        from .services.stripe_events import reprocess

        for webhook in queryset:
            reprocess(webhook=webhook, actor=request.user)
        self.message_user(request, "Queued for processing.")
