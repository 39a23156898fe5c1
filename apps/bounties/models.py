"""Bounties: balances, escrows, wallets, payouts and the immutable ledger (SCHEMA.md §15).

Every holder of value is an account: an ``AgentBalance``, a ``BountyEscrow`` or a
system account (external, fees, payout_clearing, adjustments). One
``TreasuryTransaction`` row is one transfer: it debits exactly one account and
credits exactly one other by the same positive integer amount — double entry
in one row, so every transaction sums to zero by construction. The cached
``available_minor`` / ``held_minor`` are moved only by
``apps.bounties.ledger.post_transfer`` under row locks; ``reconcile_ledger``
recomputes them from the ledger.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel

USER = settings.AUTH_USER_MODEL

OWNER_XOR = Q(owner_user__isnull=False, owner_organization__isnull=True) | Q(
    owner_user__isnull=True, owner_organization__isnull=False
)


class OwnedModel(NetworkScopedModel):
    organization_field = "owner_organization"

    owner_user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    owner_organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True

    @property
    def owner(self):  # noqa: ANN201
        return self.owner_user or self.owner_organization


class AgentBalance(OwnedModel):
    """What one user (human or agent) or organization holds of one asset."""

    asset = models.CharField(max_length=24)
    available_minor = models.BigIntegerField(default=0)
    lifetime_in_minor = models.BigIntegerField(default=0)
    lifetime_out_minor = models.BigIntegerField(default=0)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(condition=OWNER_XOR, name="agentbalance_owner_xor"),
            models.CheckConstraint(condition=Q(available_minor__gte=0), name="agentbalance_available_nonneg"),
            models.UniqueConstraint(
                fields=["network", "owner_user", "asset"],
                condition=Q(owner_user__isnull=False),
                name="agentbalance_user_asset",
            ),
            models.UniqueConstraint(
                fields=["network", "owner_organization", "asset"],
                condition=Q(owner_organization__isnull=False),
                name="agentbalance_org_asset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.available_minor}"


class EscrowStatus(models.TextChoices):
    FUNDED = "funded"
    LOCKED = "locked"
    RELEASED = "released"
    REFUNDED = "refunded"


class BountyEscrow(OwnedModel):
    Status = EscrowStatus

    task = models.ForeignKey("dispatcher.RoadmapTask", on_delete=models.PROTECT, related_name="escrows")
    funder_balance = models.ForeignKey(AgentBalance, on_delete=models.PROTECT, related_name="+")
    asset = models.CharField(max_length=24)
    amount_minor = models.BigIntegerField()
    held_minor = models.BigIntegerField(default=0)
    fee_bps = models.SmallIntegerField(default=0)
    status = models.CharField(max_length=20, choices=EscrowStatus.choices, default=EscrowStatus.FUNDED)
    beneficiary = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    beneficiary_balance = models.ForeignKey(
        AgentBalance, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claim = models.ForeignKey(
        "dispatcher.TaskClaim", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    funded_at = models.DateTimeField()
    locked_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    release_group = models.UUIDField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(condition=OWNER_XOR, name="bountyescrow_owner_xor"),
            choices_check("status", EscrowStatus, model="bountyescrow"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="bountyescrow_amount_pos"),
            models.CheckConstraint(condition=Q(held_minor__gte=0), name="bountyescrow_held_nonneg"),
            models.CheckConstraint(
                condition=Q(fee_bps__gte=0, fee_bps__lte=2000), name="bountyescrow_fee_range"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["locked", "released"]) | Q(beneficiary__isnull=False),
                name="bountyescrow_locked_has_beneficiary",
            ),
            models.CheckConstraint(
                condition=~Q(status="released") | Q(released_at__isnull=False, release_group__isnull=False),
                name="bountyescrow_released_shape",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["released", "refunded"]) | Q(held_minor=0),
                name="bountyescrow_closed_empty",
            ),
            models.UniqueConstraint(
                fields=["network", "task", "owner_user", "asset"],
                condition=Q(status__in=["funded", "locked"], owner_user__isnull=False),
                name="bountyescrow_user_live",
            ),
            models.UniqueConstraint(
                fields=["network", "task", "owner_organization", "asset"],
                condition=Q(status__in=["funded", "locked"], owner_organization__isnull=False),
                name="bountyescrow_org_live",
            ),
        ]
        indexes = [
            models.Index(fields=["task", "-id"], name="bountyescrow_task"),
            models.Index(fields=["expires_at"], condition=Q(status="funded"), name="bountyescrow_expiry"),
        ]


class WalletStatus(models.TextChoices):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    DISABLED = "disabled"


class BountyWallet(OwnedModel):
    Status = WalletStatus

    chain = models.CharField(max_length=24)
    address = models.CharField(max_length=128)
    label = models.CharField(max_length=200, blank=True, default="")
    is_default = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=WalletStatus.choices, default=WalletStatus.UNVERIFIED)
    verification_nonce = models.CharField(max_length=200, null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(condition=OWNER_XOR, name="bountywallet_owner_xor"),
            choices_check("status", WalletStatus, model="bountywallet"),
            models.UniqueConstraint(
                fields=["network", "chain", "address"], name="bountywallet_chain_address"
            ),
            models.UniqueConstraint(
                fields=["network", "owner_user", "chain"],
                condition=Q(is_default=True, owner_user__isnull=False),
                name="bountywallet_user_default",
            ),
            models.UniqueConstraint(
                fields=["network", "owner_organization", "chain"],
                condition=Q(is_default=True, owner_organization__isnull=False),
                name="bountywallet_org_default",
            ),
        ]
        indexes = [models.Index(fields=["network", "owner_user", "-id"], name="bountywallet_user")]


class TxKind(models.TextChoices):
    DEPOSIT = "deposit"
    ESCROW_FUND = "escrow_fund"
    ESCROW_RELEASE = "escrow_release"
    PLATFORM_FEE = "platform_fee"
    ESCROW_REFUND = "escrow_refund"
    PAYOUT_RESERVE = "payout_reserve"
    PAYOUT_SETTLE = "payout_settle"
    PAYOUT_REVERSE = "payout_reverse"
    ADJUSTMENT = "adjustment"


class SystemAccount(models.TextChoices):
    EXTERNAL = "external"
    FEES = "fees"
    PAYOUT_CLEARING = "payout_clearing"
    ADJUSTMENTS = "adjustments"


def _side(prefix: str, kind: str) -> Q:
    """Exactly one account on a side, of the given kind (balance, escrow or a system account)."""
    balance, escrow, system = (
        f"{prefix}_balance__isnull",
        f"{prefix}_escrow__isnull",
        f"{prefix}_system__isnull",
    )
    if kind == "balance":
        return Q(**{balance: False, escrow: True, system: True})
    if kind == "escrow":
        return Q(**{balance: True, escrow: False, system: True})
    return Q(**{balance: True, escrow: True, f"{prefix}_system": kind})


def _any_side(prefix: str) -> Q:
    return (
        _side(prefix, "balance")
        | _side(prefix, "escrow")
        | Q(
            **{
                f"{prefix}_balance__isnull": True,
                f"{prefix}_escrow__isnull": True,
                f"{prefix}_system__isnull": False,
            }
        )
    )


#: kind → (debit side, credit side, external_ref required)
SHAPES: dict[str, tuple[str, str, bool]] = {
    TxKind.DEPOSIT: ("external", "balance", True),
    TxKind.ESCROW_FUND: ("balance", "escrow", False),
    TxKind.ESCROW_RELEASE: ("escrow", "balance", False),
    TxKind.PLATFORM_FEE: ("escrow", "fees", False),
    TxKind.ESCROW_REFUND: ("escrow", "balance", False),
    TxKind.PAYOUT_RESERVE: ("balance", "payout_clearing", False),
    TxKind.PAYOUT_SETTLE: ("payout_clearing", "external", True),
    TxKind.PAYOUT_REVERSE: ("payout_clearing", "balance", False),
}


def _shape_check() -> Q:
    q = Q(kind=TxKind.ADJUSTMENT, approved_by__isnull=False) & ~Q(approved_by=F("created_by"))
    for kind, (debit, credit, ref) in SHAPES.items():
        shape = Q(kind=kind) & _side("from", debit) & _side("to", credit)
        if ref:
            shape &= Q(external_ref__isnull=False)
        q |= shape
    return q


class TreasuryTransaction(NetworkScopedModel):
    """One immutable transfer; a trigger refuses UPDATE and DELETE (migration 0002)."""

    Kind = TxKind
    System = SystemAccount

    #: a transfer between two accounts that may belong to different owners: no one organization
    #: owns it; the API reaches it only through a balance, whose organization's policy applies
    organization_exempt = "a transfer between two accounts of possibly different owners"

    kind = models.CharField(max_length=20, choices=TxKind.choices)
    asset = models.CharField(max_length=24)
    amount_minor = models.BigIntegerField()
    from_balance = models.ForeignKey(
        AgentBalance, null=True, blank=True, on_delete=models.PROTECT, related_name="debits"
    )
    from_escrow = models.ForeignKey(
        BountyEscrow, null=True, blank=True, on_delete=models.PROTECT, related_name="debits"
    )
    from_system = models.CharField(max_length=20, choices=SystemAccount.choices, null=True, blank=True)
    to_balance = models.ForeignKey(
        AgentBalance, null=True, blank=True, on_delete=models.PROTECT, related_name="credits"
    )
    to_escrow = models.ForeignKey(
        BountyEscrow, null=True, blank=True, on_delete=models.PROTECT, related_name="credits"
    )
    to_system = models.CharField(max_length=20, choices=SystemAccount.choices, null=True, blank=True)
    group_id = models.UUIDField()
    idempotency_key = models.CharField(max_length=200)
    external_ref = models.CharField(max_length=200, null=True, blank=True)
    chain = models.CharField(max_length=24, null=True, blank=True)
    wallet = models.ForeignKey(
        BountyWallet, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    task = models.ForeignKey(
        "dispatcher.RoadmapTask", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payout = models.ForeignKey(
        "PayoutRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    memo = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("kind", TxKind, model="treasurytransaction"),
            choices_check("from_system", SystemAccount, model="treasurytransaction"),
            choices_check("to_system", SystemAccount, model="treasurytransaction"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="treasurytx_amount_pos"),
            models.CheckConstraint(
                condition=_any_side("from") & _any_side("to"), name="treasurytx_one_per_side"
            ),
            models.CheckConstraint(condition=_shape_check(), name="treasurytx_kind_shape"),
            models.UniqueConstraint(fields=["idempotency_key"], name="treasurytx_idempotency_key"),
            models.UniqueConstraint(
                fields=["kind", "external_ref"],
                condition=Q(external_ref__isnull=False),
                name="treasurytx_kind_external_ref",
            ),
        ]
        indexes = [
            models.Index(fields=["from_balance", "-id"], name="treasurytx_from_balance"),
            models.Index(fields=["to_balance", "-id"], name="treasurytx_to_balance"),
            models.Index(fields=["from_escrow", "created_at"], name="treasurytx_from_escrow"),
            models.Index(fields=["to_escrow", "created_at"], name="treasurytx_to_escrow"),
            models.Index(fields=["group_id"], name="treasurytx_group"),
            models.Index(fields=["network", "created_at"], name="treasurytx_created"),
        ]

    def save(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        if not self._state.adding:
            raise ValueError("TreasuryTransaction is immutable")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise ValueError("TreasuryTransaction is immutable")


class PayoutMethod(models.TextChoices):
    ONCHAIN = "onchain"
    STRIPE_CONNECT = "stripe_connect"


class PayoutStatus(models.TextChoices):
    REQUESTED = "requested"
    APPROVED = "approved"
    PROCESSING = "processing"
    SETTLED = "settled"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class PayoutRequest(NetworkScopedModel):
    organization_field = "balance__owner_organization"

    Status = PayoutStatus

    balance = models.ForeignKey(AgentBalance, on_delete=models.PROTECT, related_name="payouts")
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()
    asset = models.CharField(max_length=24)
    method = models.CharField(max_length=20, choices=PayoutMethod.choices, default=PayoutMethod.ONCHAIN)
    wallet = models.ForeignKey(
        BountyWallet, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=PayoutStatus.choices, default=PayoutStatus.REQUESTED)
    approved_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    external_ref = models.CharField(max_length=200, null=True, blank=True)
    failure_reason = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=200)
    #: on-chain rail: confirmations the signer reported for ``external_ref`` (the tx hash)
    confirmations = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("method", PayoutMethod, model="payoutrequest"),
            choices_check("status", PayoutStatus, model="payoutrequest"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payoutrequest_amount_pos"),
            models.UniqueConstraint(
                fields=["network", "idempotency_key"], name="payoutrequest_idempotency_key"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="payoutrequest_status"),
            models.Index(fields=["network", "requested_by", "-id"], name="payoutrequest_requester"),
        ]


class DepositStatus(models.TextChoices):
    OPEN = "open"
    COMPLETED = "completed"


class DepositCheckout(NetworkScopedModel):
    """A Stripe Checkout (mode payment) that deposits into a balance once paid.

    Our row comes first: its id is the session's ``metadata.deposit_id`` and the Stripe
    idempotency key (``bounty-deposit:<id>``); the webhook posts the deposit keyed by the
    payment intent and marks the row completed.
    """

    organization_field = "balance__owner_organization"

    Status = DepositStatus

    balance = models.ForeignKey(AgentBalance, on_delete=models.PROTECT, related_name="deposit_checkouts")
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    asset = models.CharField(max_length=24)
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=20, choices=DepositStatus.choices, default=DepositStatus.OPEN)
    client_key = models.CharField(max_length=150)
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    url = models.TextField(blank=True, default="")
    payment_intent = models.CharField(max_length=255, null=True, blank=True)
    transaction = models.ForeignKey(
        TreasuryTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("status", DepositStatus, model="depositcheckout"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="depositcheckout_amount_pos"),
            models.UniqueConstraint(
                fields=["network", "requested_by", "client_key"], name="depositcheckout_client_key"
            ),
        ]

    @property
    def stripe_idempotency_key(self) -> str:
        return f"bounty-deposit:{self.pk}"


class AdjustmentDirection(models.TextChoices):
    CREDIT = "credit", "credit the balance (adjustments → balance)"
    DEBIT = "debit", "debit the balance (balance → adjustments)"


class AdjustmentStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class LedgerAdjustment(NetworkScopedModel):
    """A staff correction waiting for a second staff member; posted (kind adjustment) on approval."""

    organization_field = "balance__owner_organization"

    Direction = AdjustmentDirection
    Status = AdjustmentStatus

    balance = models.ForeignKey(AgentBalance, on_delete=models.PROTECT, related_name="adjustments")
    direction = models.CharField(max_length=10, choices=AdjustmentDirection.choices)
    amount_minor = models.BigIntegerField()
    memo = models.CharField(max_length=500)
    status = models.CharField(
        max_length=20, choices=AdjustmentStatus.choices, default=AdjustmentStatus.PENDING
    )
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    transaction = models.ForeignKey(
        TreasuryTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("direction", AdjustmentDirection, model="ledgeradjustment"),
            choices_check("status", AdjustmentStatus, model="ledgeradjustment"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="ledgeradjustment_amount_pos"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("created_by")),
                name="ledgeradjustment_second_person",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(transaction__isnull=False, decided_by__isnull=False),
                name="ledgeradjustment_approved_posted",
            ),
        ]
        indexes = [models.Index(fields=["status", "-id"], name="ledgeradjustment_status")]
