"""Back office for bounties. Every change goes through ``services`` (and so ``post_transfer``):

- the ledger is read-only; "Record deposit" (an on-chain deposit with its tx hash, or any
  external deposit with its reference) and the reconciliation view (drift: there must be none)
  hang off the ledger changelist;
- adjustments: "Propose adjustment" creates a pending row; a *second* staff member approves it
  (its creator's approval is refused, nothing written) or rejects it;
- escrows: force unlock, force refund (audited);
- the payout queue: approve, reject, mark settled (with the hash / reference), mark failed.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.core.admin import LedgerAdmin, each_through_service
from apps.core.exceptions import DomainError

from . import ledger, services
from .models import (
    AdjustmentDirection,
    AgentBalance,
    BountyEscrow,
    BountyWallet,
    DepositCheckout,
    LedgerAdjustment,
    PayoutRequest,
    TreasuryTransaction,
)


class _BalanceField(forms.UUIDField):
    def clean(self, value):  # noqa: ANN001, ANN201
        pk = super().clean(value)
        balance = AgentBalance.objects.filter(pk=pk).first()
        if balance is None:
            raise forms.ValidationError("No such balance.")
        return balance


class RecordDepositForm(forms.Form):
    balance = _BalanceField(help_text="The id of the balance credited (its asset is the deposit's asset).")
    amount_minor = forms.IntegerField(min_value=1, max_value=2**62, help_text="In the asset's minor units.")
    external_ref = forms.CharField(
        max_length=200, label="Transaction hash / reference", help_text="On-chain: 0x + 64 hex."
    )
    memo = forms.CharField(max_length=500, required=False)


class AdjustmentForm(forms.Form):
    balance = _BalanceField()
    direction = forms.ChoiceField(choices=AdjustmentDirection.choices)
    amount_minor = forms.IntegerField(min_value=1, max_value=2**62)
    memo = forms.CharField(max_length=500, help_text="Why (required); a second staff member approves.")


class SettleForm(forms.Form):
    external_ref = forms.CharField(
        max_length=200, label="Transaction hash / reference", help_text="On-chain: 0x + 64 hex."
    )


def _form_page(
    request: HttpRequest, modeladmin, form, *, title: str, submit: str, intro: str = ""
) -> HttpResponse:
    context = {**modeladmin.admin_site.each_context(request), "title": title, "form": form, "submit": submit,
               "intro": intro, "opts": modeladmin.model._meta}  # fmt: skip
    return TemplateResponse(request, "admin/bounties/form.html", context)


def _service_error(form: forms.Form, exc: DomainError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


@admin.register(TreasuryTransaction)
class TreasuryTransactionAdmin(LedgerAdmin):
    list_display = ("created_at", "kind", "asset", "amount_minor", "from_system", "to_system", "external_ref")
    list_filter = ("kind", "asset", "network")
    search_fields = ("idempotency_key", "external_ref", "=group_id")
    change_list_template = "admin/bounties/treasurytransaction/change_list.html"

    def get_urls(self):  # noqa: ANN201
        view = self.admin_site.admin_view
        return [
            path("record-deposit/", view(self.record_deposit_view), name="bounties_record_deposit"),
            path("reconciliation/", view(self.reconciliation_view), name="bounties_reconciliation"),
            *super().get_urls(),
        ]

    def record_deposit_view(self, request: HttpRequest) -> HttpResponse:
        form = RecordDepositForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                tx = services.record_staff_deposit(actor=request.user, **data)
            except DomainError as exc:
                _service_error(form, exc)
            else:
                self.message_user(
                    request, f"Deposit of {tx.amount_minor} {tx.asset} recorded ({tx.external_ref})."
                )
                return HttpResponseRedirect(reverse("admin:bounties_treasurytransaction_changelist"))
        return _form_page(request, self, form, title="Record deposit", submit="Record deposit",
                          intro="A deposit that arrived outside Stripe, once per transaction hash.")  # fmt: skip

    def reconciliation_view(self, request: HttpRequest) -> HttpResponse:
        report = ledger.reconcile(detail=True)
        context = {**self.admin_site.each_context(request), "title": "Ledger reconciliation", "report": report,
                   "totals": list(report["totals"].items()), "system": report["system"], "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/bounties/reconciliation.html", context)


@admin.register(AgentBalance)
class AgentBalanceAdmin(LedgerAdmin):
    list_display = ("pk", "owner_user", "owner_organization", "asset", "available_minor", "lifetime_in_minor")
    list_filter = ("asset", "network")
    list_select_related = ("owner_user", "owner_organization")


@admin.register(LedgerAdjustment)
class LedgerAdjustmentAdmin(LedgerAdmin):
    list_display = (
        "created_at",
        "balance",
        "direction",
        "amount_minor",
        "status",
        "created_by",
        "decided_by",
    )
    list_filter = ("status", "direction", "network")
    list_select_related = ("balance", "created_by", "decided_by")
    change_list_template = "admin/bounties/ledgeradjustment/change_list.html"
    actions = ("approve", "reject")

    def get_urls(self):  # noqa: ANN201
        return [
            path(
                "propose/", self.admin_site.admin_view(self.propose_view), name="bounties_propose_adjustment"
            ),
            *super().get_urls(),
        ]

    def propose_view(self, request: HttpRequest) -> HttpResponse:
        form = AdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.propose_adjustment(actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                _service_error(form, exc)
            else:
                self.message_user(request, "Adjustment proposed; a second staff member approves it.")
                return HttpResponseRedirect(reverse("admin:bounties_ledgeradjustment_changelist"))
        return _form_page(request, self, form, title="Propose adjustment", submit="Propose",
                          intro="Nothing moves until another staff member approves.")  # fmt: skip

    @admin.action(description="Approve (a second staff member; posts the adjustment)")
    def approve(self, request, queryset):  # noqa: ANN001, ANN201
        each_through_service(self, request, queryset, lambda a: services.approve_adjustment(actor=request.user,
                             adjustment=a), "approved")  # fmt: skip

    @admin.action(description="Reject")
    def reject(self, request, queryset):  # noqa: ANN001, ANN201
        each_through_service(self, request, queryset, lambda a: services.reject_adjustment(actor=request.user,
                             adjustment=a), "rejected")  # fmt: skip


@admin.register(BountyEscrow)
class BountyEscrowAdmin(LedgerAdmin):
    list_display = ("pk", "task", "asset", "amount_minor", "held_minor", "fee_bps", "status", "beneficiary")
    list_filter = ("status", "asset", "network")
    list_select_related = ("task", "beneficiary")
    actions = ("force_unlock", "force_refund")

    @admin.action(description="Force unlock (locked → funded; audited)")
    def force_unlock(self, request, queryset):
        each_through_service(self, request, queryset, lambda e: services.force_unlock_escrow(actor=request.user, escrow=e,
              reason="staff force unlock"), "unlocked")  # fmt: skip

    @admin.action(description="Force refund to the funder (audited)")
    def force_refund(self, request, queryset):
        each_through_service(self, request, queryset, lambda e: services.refund_escrow(actor=request.user, escrow=e, force=True,
              reason="staff force refund"), "refunded")  # fmt: skip


@admin.register(BountyWallet)
class BountyWalletAdmin(LedgerAdmin):
    list_display = ("address", "chain", "owner_user", "owner_organization", "status", "verified_at")
    list_filter = ("chain", "status", "network")
    list_select_related = ("owner_user", "owner_organization")
    exclude = ("verification_nonce",)


@admin.register(DepositCheckout)
class DepositCheckoutAdmin(LedgerAdmin):
    list_display = (
        "created_at",
        "balance",
        "amount_minor",
        "asset",
        "status",
        "payment_intent",
        "requested_by",
    )
    list_filter = ("status", "asset", "network")
    list_select_related = ("balance", "requested_by")
    search_fields = ("=stripe_session_id", "=payment_intent")
    exclude = ("url",)


@admin.register(PayoutRequest)
class PayoutRequestAdmin(LedgerAdmin):
    list_display = (
        "pk",
        "requested_by",
        "amount_minor",
        "asset",
        "method",
        "status",
        "external_ref",
        "confirmations",
        "created_at",
    )
    list_filter = ("status", "method", "asset", "network")
    list_select_related = ("requested_by",)
    actions = ("approve", "reject", "mark_settled", "mark_failed")

    def get_urls(self):  # noqa: ANN201
        return [
            path(
                "<uuid:pk>/settle/",
                self.admin_site.admin_view(self.settle_view),
                name="bounties_payout_settle",
            ),
            *super().get_urls(),
        ]

    def settle_view(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        payout = get_object_or_404(PayoutRequest, pk=pk)
        form = SettleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.settle_payout(actor=request.user, payout=payout, **form.cleaned_data)
            except DomainError as exc:
                _service_error(form, exc)
            else:
                self.message_user(request, f"{payout}: settled.")
                return HttpResponseRedirect(reverse("admin:bounties_payoutrequest_changelist"))
        return _form_page(request, self, form, title=f"Mark payout {payout.pk} settled", submit="Mark settled",
                          intro=f"{payout.amount_minor} {payout.asset} by {payout.method}: the reference of the "
                                "money that left (posts payout_settle).")  # fmt: skip

    @admin.action(description="Approve")
    def approve(self, request, queryset):
        each_through_service(
            self,
            request,
            queryset,
            lambda p: services.approve_payout(actor=request.user, payout=p),
            "approved",
        )

    @admin.action(description="Reject (reverses the reserve)")
    def reject(self, request, queryset):
        each_through_service(self, request, queryset, lambda p: services.reject_payout(actor=request.user, payout=p,
              reason="rejected by staff"), "rejected")  # fmt: skip

    @admin.action(description="Mark settled (asks for the hash / reference)")
    def mark_settled(self, request, queryset):  # noqa: ANN001, ANN201
        rows = list(queryset[:2])
        if len(rows) != 1:
            self.message_user(
                request, "Mark one payout settled at a time (it needs its reference).", messages.WARNING
            )
            return None
        return HttpResponseRedirect(reverse("admin:bounties_payout_settle", args=[rows[0].pk]))

    @admin.action(description="Mark failed (reverses the reserve)")
    def mark_failed(self, request, queryset):
        each_through_service(self, request, queryset, lambda p: services.fail_payout(actor=request.user, payout=p,
              reason="marked failed by staff"), "failed")  # fmt: skip
