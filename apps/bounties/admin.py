"""Back office for bounties: the ledger is read-only; escrows (force unlock, force refund —
audited), the payout queue (approve, reject, mark failed; settle needs the hash: use the
service from a shell until the form lands), balances read-only."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.core.exceptions import DomainError

from . import services
from .models import AgentBalance, BountyEscrow, BountyWallet, PayoutRequest, TreasuryTransaction


class _ReadOnly(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _each(modeladmin, request, queryset, fn, done: str) -> None:
    count = 0
    for obj in queryset:
        try:
            fn(obj)
            count += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.WARNING)
    modeladmin.message_user(request, f"{count} {done}.")


@admin.register(TreasuryTransaction)
class TreasuryTransactionAdmin(_ReadOnly):
    list_display = ("created_at", "kind", "asset", "amount_minor", "from_system", "to_system", "external_ref")
    list_filter = ("kind", "asset", "network")
    search_fields = ("idempotency_key", "external_ref", "=group_id")


@admin.register(AgentBalance)
class AgentBalanceAdmin(_ReadOnly):
    list_display = ("pk", "owner_user", "owner_organization", "asset", "available_minor", "lifetime_in_minor")
    list_filter = ("asset", "network")
    list_select_related = ("owner_user", "owner_organization")


@admin.register(BountyEscrow)
class BountyEscrowAdmin(_ReadOnly):
    list_display = ("pk", "task", "asset", "amount_minor", "held_minor", "fee_bps", "status", "beneficiary")
    list_filter = ("status", "asset", "network")
    list_select_related = ("task", "beneficiary")
    actions = ("force_unlock", "force_refund")

    @admin.action(description="Force unlock (locked → funded; audited)")
    def force_unlock(self, request, queryset):
        _each(self, request, queryset, lambda e: services.force_unlock_escrow(actor=request.user, escrow=e,
              reason="staff force unlock"), "unlocked")  # fmt: skip

    @admin.action(description="Force refund to the funder (audited)")
    def force_refund(self, request, queryset):
        _each(self, request, queryset, lambda e: services.refund_escrow(actor=request.user, escrow=e, force=True,
              reason="staff force refund"), "refunded")  # fmt: skip


@admin.register(BountyWallet)
class BountyWalletAdmin(_ReadOnly):
    list_display = ("address", "chain", "owner_user", "owner_organization", "status", "verified_at")
    list_filter = ("chain", "status", "network")
    list_select_related = ("owner_user", "owner_organization")
    exclude = ("verification_nonce",)


@admin.register(PayoutRequest)
class PayoutRequestAdmin(_ReadOnly):
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
        _each(
            self,
            request,
            queryset,
            lambda p: services.approve_payout(actor=request.user, payout=p),
            "approved",
        )

    @admin.action(description="Reject (reverses the reserve)")
    def reject(self, request, queryset):
        _each(self, request, queryset, lambda p: services.reject_payout(actor=request.user, payout=p,
              reason="rejected by staff"), "rejected")  # fmt: skip

    @admin.action(description="Mark failed (reverses the reserve)")
    def mark_failed(self, request, queryset):
        _each(self, request, queryset, lambda p: services.fail_payout(actor=request.user, payout=p,
              reason="marked failed by staff"), "failed")  # fmt: skip
