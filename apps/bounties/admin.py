"""Back office for bounties: the ledger is read-only; escrows (force unlock, force refund —
audited), the payout queue (approve, reject, mark failed; settle needs the hash: use the
service from a shell until the form lands), balances read-only."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin import LedgerAdmin, each_through_service

from . import services
from .models import AgentBalance, BountyEscrow, BountyWallet, PayoutRequest, TreasuryTransaction


@admin.register(TreasuryTransaction)
class TreasuryTransactionAdmin(LedgerAdmin):
    list_display = ("created_at", "kind", "asset", "amount_minor", "from_system", "to_system", "external_ref")
    list_filter = ("kind", "asset", "network")
    search_fields = ("idempotency_key", "external_ref", "=group_id")


@admin.register(AgentBalance)
class AgentBalanceAdmin(LedgerAdmin):
    list_display = ("pk", "owner_user", "owner_organization", "asset", "available_minor", "lifetime_in_minor")
    list_filter = ("asset", "network")
    list_select_related = ("owner_user", "owner_organization")


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
        "created_at",
    )
    list_filter = ("status", "method", "asset", "network")
    list_select_related = ("requested_by",)
    actions = ("approve", "reject", "mark_failed")

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

    @admin.action(description="Mark failed (reverses the reserve)")
    def mark_failed(self, request, queryset):
        each_through_service(self, request, queryset, lambda p: services.fail_payout(actor=request.user, payout=p,
              reason="marked failed by staff"), "failed")  # fmt: skip
