"""Bounty escrows, deposits, payouts and wallets. Money moves only through ``ledger.post_transfer``.

Escrow states: funded → locked (a claim) → released (task done); locked → funded
(the claim ended unaccepted); funded → refunded (the funder, task cancelled or
expired); locked → refunded (staff, with a reason). Every move is a conditional
update on the locked escrow row; an illegal or raced move is 409 ``invalid_state``.

Release is once: the escrow row is locked, ``locked → released`` is checked, and
one group pays (held − fee) to the beneficiary and ⌊held × bps / 10 000⌋ to the
fees account under the keys ``escrow:<id>:release`` / ``escrow:<id>:fee`` — a
second caller (a racing thread, a retried job) finds it released and gets the
same group back.

Payouts: requested (payout_reserve balance → clearing) → approved (auto under
the network's ``payout_threshold_minor``, else staff) → processing (a rail) →
settled (payout_settle clearing → external, with the reference) | failed
(payout_reverse clearing → balance). requested/approved → cancelled (requester)
or rejected (staff) reverse too. Replayed idempotency keys return the first
request.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.audit import record as audit_record
from apps.core.exceptions import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from apps.organizations.roles import has_org_permission

from . import rails
from .ledger import Transfer, check_amount, check_asset, post_transfer
from .models import (
    AdjustmentDirection,
    AdjustmentStatus,
    AgentBalance,
    BountyEscrow,
    BountyWallet,
    DepositCheckout,
    DepositStatus,
    EscrowStatus,
    LedgerAdjustment,
    PayoutMethod,
    PayoutRequest,
    PayoutStatus,
    TreasuryTransaction,
    TxKind,
    WalletStatus,
)

logger = logging.getLogger(__name__)

#: a Stripe transfer left in processing by a transient failure is sent again after this long
PAYOUT_RETRY_SECONDS = 120
#: confirmations an on-chain payout needs before it settles (``BOUNTY_ASSETS[asset]["confirmations"]``)
DEFAULT_CONFIRMATIONS = 12

EVM_CHAINS = frozenset({"base", "ethereum", "polygon", "arbitrum", "optimism"})
FINISHED_TASK = ("done", "cancelled")


# --- accounts -----------------------------------------------------------------------------


def balance_for(
    *, network_id: Any, asset: str, owner_user: Any = None, owner_organization: Any = None
) -> AgentBalance:
    """The owner's balance of ``asset``, created on first use (race-safe)."""
    check_asset(asset)
    if (owner_user is None) == (owner_organization is None):
        raise ValidationFailed("A balance has exactly one owner.")
    lookup = {"network_id": network_id, "asset": asset}
    if owner_user is not None:
        lookup["owner_user_id"] = getattr(owner_user, "pk", owner_user)
    else:
        lookup["owner_organization_id"] = getattr(owner_organization, "pk", owner_organization)
    found = AgentBalance.objects.filter(**lookup).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return AgentBalance.objects.create(**lookup)
    except IntegrityError:
        return AgentBalance.objects.get(**lookup)


def can_manage_balance(actor: Any, balance: AgentBalance) -> bool:
    if actor is None or actor.network_id != balance.network_id:
        return False
    if balance.owner_user_id is not None:
        if balance.owner_user_id == actor.pk:
            return True
        owner = balance.owner_user
        # an agent's balance is managed by its owner
        return bool(owner.is_ai and owner.agent_owner_user_id == actor.pk) or bool(
            owner.is_ai
            and owner.agent_owner_organization_id
            and has_org_permission(actor, owner.agent_owner_organization_id, "org.funds")
        )
    return has_org_permission(actor, balance.owner_organization_id, "org.funds")


def _funder_balance(actor: Any, *, asset: str, organization: Any) -> AgentBalance:
    if organization is not None:
        ensure_same_network(actor.network_id, organization)
        if not has_org_permission(actor, organization, "org.funds"):
            raise PermissionDenied("Funding from an organization needs its owner, admin or billing role.")
        return balance_for(network_id=actor.network_id, asset=asset, owner_organization=organization)
    return balance_for(network_id=actor.network_id, asset=asset, owner_user=actor)


def _lock_escrow(escrow: BountyEscrow) -> BountyEscrow:
    return BountyEscrow.objects.select_for_update().get(pk=escrow.pk)


# --- escrows ------------------------------------------------------------------------------


@transaction.atomic
def fund_escrow(
    *,
    actor: Any,
    task: Any,
    asset: str,
    amount_minor: int,
    idempotency_key: str,
    organization: Any = None,
    expires_at: Any = None,
) -> BountyEscrow:
    """Put ``amount_minor`` of the funder's balance on ``task`` (a new escrow, or a top-up of the
    funder's live one). A replayed key returns the escrow it funded."""
    check_asset(asset)
    check_amount(amount_minor)
    ensure_same_network(actor.network_id, task)
    key = f"fund:{actor.pk}:{idempotency_key}"
    done = TreasuryTransaction.objects.filter(idempotency_key=key).select_related("to_escrow").first()
    if done is not None:
        return done.to_escrow
    from apps.dispatcher.models import RoadmapTask

    task = RoadmapTask.objects.select_for_update().get(pk=task.pk)
    if task.status in FINISHED_TASK:
        raise InvalidState("A finished task takes no bounty.")
    funder = _funder_balance(actor, asset=asset, organization=organization)
    owner = {"owner_organization_id": funder.owner_organization_id, "owner_user_id": funder.owner_user_id}
    escrow = (
        BountyEscrow.objects.select_for_update()
        .filter(task=task, asset=asset, status__in=(EscrowStatus.FUNDED, EscrowStatus.LOCKED), **owner)
        .first()
    )
    if escrow is None:
        escrow = BountyEscrow.objects.create(
            network_id=task.network_id,
            task=task,
            funder_balance=funder,
            asset=asset,
            amount_minor=amount_minor,
            fee_bps=min(int(task.network.setting("fee_bps", 0) or 0), 2000),
            funded_at=timezone.now(),
            expires_at=expires_at,
            **owner,
        )
        live = task.claims.filter(status__in=("active", "submitted")).first()
        if live is not None:
            _lock_one(escrow, live)
    else:
        BountyEscrow.objects.filter(pk=escrow.pk).update(amount_minor=escrow.amount_minor + amount_minor)
    post_transfer(
        Transfer(TxKind.ESCROW_FUND, amount_minor, funder, escrow, key, memo=f"bounty on {task.pk}"),
        network_id=task.network_id,
        asset=asset,
        created_by=actor,
        task=task,
    )
    escrow.refresh_from_db()
    return escrow


def _lock_one(escrow: BountyEscrow, claim: Any) -> None:
    BountyEscrow.objects.filter(pk=escrow.pk, status=EscrowStatus.FUNDED).update(
        status=EscrowStatus.LOCKED,
        beneficiary_id=claim.claimant_id,
        claim=claim,
        locked_at=timezone.now(),
        updated_at=timezone.now(),
    )


def lock_task_escrows(*, task: Any, claim: Any) -> int:
    """A claim started: the task's funded escrows lock to the claimant (no money moves)."""
    return BountyEscrow.objects.filter(task_id=task.pk, status=EscrowStatus.FUNDED).update(
        status=EscrowStatus.LOCKED,
        beneficiary_id=claim.claimant_id,
        claim=claim,
        locked_at=timezone.now(),
        updated_at=timezone.now(),
    )


def unlock_task_escrows(*, task: Any) -> int:
    """The claim ended unaccepted: locked escrows are funded again (no money moves)."""
    return BountyEscrow.objects.filter(task_id=task.pk, status=EscrowStatus.LOCKED).update(
        status=EscrowStatus.FUNDED, beneficiary=None, beneficiary_balance=None, claim=None, locked_at=None,
        updated_at=timezone.now(),
    )  # fmt: skip


@transaction.atomic
def release_escrow(*, escrow: BountyEscrow, actor: Any = None) -> list[TreasuryTransaction]:
    """locked → released once, paying the beneficiary and the fee in one group."""
    escrow = _lock_escrow(escrow)
    if escrow.status == EscrowStatus.RELEASED:
        return list(TreasuryTransaction.objects.filter(group_id=escrow.release_group).order_by("id"))
    if escrow.status != EscrowStatus.LOCKED:
        raise InvalidState(f"A {escrow.status} escrow is not released.")
    held = escrow.held_minor
    fee = held * escrow.fee_bps // 10_000
    beneficiary = balance_for(
        network_id=escrow.network_id, asset=escrow.asset, owner_user=escrow.beneficiary_id
    )
    legs = []
    if held - fee > 0:
        legs.append(
            Transfer(TxKind.ESCROW_RELEASE, held - fee, escrow, beneficiary, f"escrow:{escrow.pk}:release")
        )
    if fee > 0:
        legs.append(Transfer(TxKind.PLATFORM_FEE, fee, escrow, "fees", f"escrow:{escrow.pk}:fee"))
    rows = post_transfer(
        *legs, network_id=escrow.network_id, asset=escrow.asset, created_by=actor, task=escrow.task
    )
    now = timezone.now()
    moved = BountyEscrow.objects.filter(pk=escrow.pk, status=EscrowStatus.LOCKED).update(
        status=EscrowStatus.RELEASED,
        beneficiary_balance=beneficiary,
        release_group=rows[0].group_id,
        released_at=now,
        updated_at=now,
    )
    if moved != 1:  # pragma: no cover - the row lock makes this unreachable
        raise InvalidState("The escrow moved while it was released.")
    return rows


def release_task_escrows(*, task: Any) -> int:
    """Task done: every locked escrow of it is released (idempotent)."""
    count = 0
    for escrow in BountyEscrow.objects.filter(task_id=task.pk, status=EscrowStatus.LOCKED).order_by("id"):
        release_escrow(escrow=escrow)
        count += 1
    return count


@transaction.atomic
def refund_escrow(*, actor: Any, escrow: BountyEscrow, reason: str = "", force: bool = False) -> BountyEscrow:
    """Back to the funder's balance: the funder while funded; staff (``force``) also while locked."""
    escrow = _lock_escrow(escrow)
    if actor is not None:
        ensure_same_network(actor.network_id, escrow)
    if escrow.status == EscrowStatus.REFUNDED:
        return escrow
    if force:
        if actor is not None and not actor.is_staff:
            raise PermissionDenied()
        if escrow.status not in (EscrowStatus.FUNDED, EscrowStatus.LOCKED):
            raise InvalidState(f"A {escrow.status} escrow is not refunded.")
        if escrow.status == EscrowStatus.LOCKED and not reason:
            raise ValidationFailed("A locked escrow is refunded with a reason.", field="reason")
    else:
        if actor is not None and not can_manage_balance(actor, escrow.funder_balance):
            raise PermissionDenied("Only the funder refunds an escrow.")
        if escrow.status != EscrowStatus.FUNDED:
            raise InvalidState("Only a funded (unclaimed) escrow is refunded.")
    if escrow.held_minor > 0:
        post_transfer(
            Transfer(TxKind.ESCROW_REFUND, escrow.held_minor, escrow, escrow.funder_balance, f"escrow:{escrow.pk}:refund",
                     memo=reason),
            network_id=escrow.network_id, asset=escrow.asset, created_by=actor, task=escrow.task,
        )  # fmt: skip
    now = timezone.now()
    BountyEscrow.objects.filter(pk=escrow.pk).update(
        status=EscrowStatus.REFUNDED, refunded_at=now, updated_at=now, beneficiary=None, claim=None
    )
    if force and actor is not None:
        audit_record(
            network=escrow.network_id,
            actor=actor,
            action="bounty.escrow.force_refund",
            target=escrow,
            data={"reason": reason},
        )
    escrow.refresh_from_db()
    return escrow


def refund_task_escrows(*, task: Any, reason: str = "task cancelled") -> int:
    count = 0
    for escrow in BountyEscrow.objects.filter(task_id=task.pk, status=EscrowStatus.FUNDED):
        refund_escrow(actor=None, escrow=escrow, reason=reason)
        count += 1
    return count


def refund_expired_escrows(*, limit: int = 500) -> int:
    count = 0
    due = BountyEscrow.objects.filter(status=EscrowStatus.FUNDED, expires_at__lte=timezone.now())
    for escrow in due.order_by("expires_at")[:limit]:
        refund_escrow(actor=None, escrow=escrow, reason="expired")
        count += 1
    return count


@transaction.atomic
def force_unlock_escrow(*, actor: Any, escrow: BountyEscrow, reason: str) -> BountyEscrow:
    escrow = _lock_escrow(escrow)
    if escrow.status != EscrowStatus.LOCKED:
        raise InvalidState("Only a locked escrow is unlocked.")
    BountyEscrow.objects.filter(pk=escrow.pk).update(
        status=EscrowStatus.FUNDED, beneficiary=None, claim=None, locked_at=None, updated_at=timezone.now()
    )
    audit_record(
        network=escrow.network_id,
        actor=actor,
        action="bounty.escrow.force_unlock",
        target=escrow,
        data={"reason": reason},
    )
    escrow.refresh_from_db()
    return escrow


# --- deposits and adjustments ----------------------------------------------------------------


def record_deposit(
    *, actor: Any, balance: AgentBalance, amount_minor: int, external_ref: str, chain: str | None = None,
    memo: str = "",
) -> TreasuryTransaction:  # fmt: skip
    """external → balance, keyed by the reference (a Stripe payment intent, an on-chain tx hash):
    the same reference twice deposits once."""
    check_amount(amount_minor)
    if not external_ref:
        raise ValidationFailed("A deposit needs its external reference.", field="external_ref")
    rows = post_transfer(
        Transfer(TxKind.DEPOSIT, amount_minor, "external", balance, f"deposit:{external_ref}",
                 external_ref=external_ref, memo=memo),
        network_id=balance.network_id, asset=balance.asset, created_by=actor, chain=chain,
    )  # fmt: skip
    return rows[0]


#: Stripe Checkout bounds for one deposit (USD cents): Stripe's least charge and a sane ceiling
STRIPE_DEPOSIT_MIN_MINOR = 100
STRIPE_DEPOSIT_MAX_MINOR = 99_999_999
TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


def _stripe_currency(asset: str) -> str:
    """The Checkout currency of a fiat asset (only USD is configured); a chain asset → 400."""
    if settings.BOUNTY_ASSETS[asset]["chain"] or asset != "USD":
        raise ValidationFailed(f"{asset} is not deposited by card.", field="balance", code="not_card_asset")
    return "usd"


def start_deposit_checkout(
    *, actor: Any, balance: AgentBalance, amount_minor: int, client_key: str
) -> tuple[DepositCheckout, bool]:
    """A Stripe Checkout (mode payment) that deposits ``amount_minor`` into ``balance`` once paid.

    Our row is committed first; the Stripe call carries ``bounty-deposit:<row id>`` as its
    idempotency key, so a retry with the same client key replays the same session. Returns
    (row, created)."""
    from apps.billing.stripe_client import call, stripe_client

    check_amount(amount_minor)
    ensure_same_network(actor.network_id, balance)
    if not can_manage_balance(actor, balance):
        raise NotFound()
    currency = _stripe_currency(balance.asset)
    if not STRIPE_DEPOSIT_MIN_MINOR <= amount_minor <= STRIPE_DEPOSIT_MAX_MINOR:
        raise ValidationFailed(
            f"Deposit between {STRIPE_DEPOSIT_MIN_MINOR} and {STRIPE_DEPOSIT_MAX_MINOR} cents.",
            field="amount_minor", code="invalid_amount",
        )  # fmt: skip
    lookup = {"network_id": balance.network_id, "requested_by": actor, "client_key": client_key}
    row = DepositCheckout.objects.filter(**lookup).first()
    created = row is None
    if row is None:
        try:
            with transaction.atomic():
                row = DepositCheckout.objects.create(
                    **lookup, balance=balance, asset=balance.asset, amount_minor=amount_minor
                )
        except IntegrityError:  # a concurrent request with the same key won
            row = DepositCheckout.objects.get(**lookup)
            created = False
    if row.balance_id != balance.pk or row.amount_minor != amount_minor:
        raise InvalidState("This Idempotency-Key was used for another deposit.", code="idempotency_conflict")
    if row.stripe_session_id:
        return row, created
    from apps.billing.services.stripe_accounts import account_for, ensure_customer

    # the payer: the caller's own billing customer (the balance's owner may be an org or an agent)
    customer = ensure_customer(account=account_for(network_id=actor.network_id, owner_user_id=actor.pk))
    metadata = {"kind": "bounty_deposit", "deposit_id": str(row.pk), "balance_id": str(balance.pk),
                "network_id": str(balance.network_id)}  # fmt: skip
    params: dict[str, Any] = {
        "mode": "payment",
        "customer": customer.stripe_customer_id,
        "client_reference_id": str(row.pk),
        "line_items": [{
            "price_data": {"currency": currency, "unit_amount": amount_minor,
                           "product_data": {"name": "Colony bounty deposit"}},
            "quantity": 1,
        }],
        "success_url": settings.BILLING_CHECKOUT_SUCCESS_URL,
        "cancel_url": settings.BILLING_CHECKOUT_CANCEL_URL,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }  # fmt: skip
    session = call(
        stripe_client().v1.checkout.sessions.create, params, {"idempotency_key": row.stripe_idempotency_key}
    )
    DepositCheckout.objects.filter(pk=row.pk).update(
        stripe_session_id=session.id, url=session.url or "", updated_at=timezone.now()
    )
    row.refresh_from_db()
    return row, created


@transaction.atomic
def record_stripe_deposit(*, event_id: str, session: dict[str, Any]) -> TreasuryTransaction | None:
    """Billing's webhook hook for a paid Checkout session with ``metadata.kind = bounty_deposit``
    (the session as retrieved from Stripe): our ``DepositCheckout`` row (``metadata.deposit_id``)
    is completed and the deposit posted, keyed by the payment intent — a replayed or second
    event finds the row completed and changes nothing. Anything that does not match the row
    (session id, currency, amount) is ignored and logged, never deposited."""
    metadata = session.get("metadata") or {}
    if metadata.get("kind") != "bounty_deposit" or session.get("payment_status") != "paid":
        return None
    try:
        deposit_id = uuid.UUID(str(metadata.get("deposit_id")))
    except ValueError:
        logger.warning("bounty deposit event %s without a deposit id", event_id)
        return None
    row = DepositCheckout.objects.select_for_update().filter(pk=deposit_id).select_related("balance").first()
    if row is None:
        logger.warning("bounty deposit event %s: unknown deposit %s", event_id, deposit_id)
        return None
    if row.status == DepositStatus.COMPLETED:
        return row.transaction
    amount = int(session.get("amount_total") or 0)
    currency = str(session.get("currency") or _stripe_currency(row.asset)).lower()
    if (
        (row.stripe_session_id and session.get("id") != row.stripe_session_id)
        or amount != row.amount_minor
        or (currency != _stripe_currency(row.asset))
    ):
        logger.warning("bounty deposit event %s does not match deposit %s; ignored", event_id, row.pk)
        return None
    ref = str(session.get("payment_intent") or session.get("id"))
    tx = record_deposit(
        actor=None, balance=row.balance, amount_minor=amount, external_ref=ref, memo="Stripe Checkout"
    )
    now = timezone.now()
    DepositCheckout.objects.filter(pk=row.pk).update(
        status=DepositStatus.COMPLETED, payment_intent=ref, transaction=tx, completed_at=now, updated_at=now
    )
    return tx


def record_staff_deposit(
    *, actor: Any, balance: AgentBalance, amount_minor: int, external_ref: str, memo: str = ""
) -> TreasuryTransaction:
    """Staff enter a deposit that arrived outside Stripe: on-chain with its transaction hash
    (0x + 64 hex on an EVM chain), once per hash (a second entry is 409 ``duplicate_ref``)."""
    if actor is None or not actor.is_staff:
        raise PermissionDenied()
    check_amount(amount_minor)
    external_ref = (external_ref or "").strip()
    chain = settings.BOUNTY_ASSETS[balance.asset]["chain"]
    if chain in EVM_CHAINS:
        if not TX_HASH.fullmatch(external_ref):
            raise ValidationFailed("Not a transaction hash (0x + 64 hex).", field="external_ref",
                                   code="invalid_tx_hash")  # fmt: skip
        external_ref = external_ref.lower()
    if TreasuryTransaction.objects.filter(kind=TxKind.DEPOSIT, external_ref=external_ref).exists():
        raise Conflict("This external reference was already recorded.", code="duplicate_ref")
    with transaction.atomic():
        tx = record_deposit(
            actor=actor, balance=balance, amount_minor=amount_minor, external_ref=external_ref, chain=chain,
            memo=memo or "recorded by staff",
        )  # fmt: skip
        audit_record(network=balance.network_id, actor=actor, action="bounty.deposit.record", target=tx,
                     data={"balance": str(balance.pk), "amount_minor": amount_minor, "external_ref": external_ref})  # fmt: skip
    return tx


def post_adjustment(
    *, created_by: Any, approved_by: Any, debit: Any, credit: Any, asset: str, amount_minor: int, key: str,
    memo: str,
) -> TreasuryTransaction:  # fmt: skip
    """A staff correction; a second staff member approves it (never its creator)."""
    if approved_by is None or created_by is None or approved_by.pk == created_by.pk:
        raise PermissionDenied("An adjustment is approved by a second staff member.", code="self_approval")
    if not (created_by.is_staff and approved_by.is_staff):
        raise PermissionDenied()
    if not memo:
        raise ValidationFailed("An adjustment says why.", field="memo")
    network_id = (
        getattr(debit, "network_id", None) or getattr(credit, "network_id", None) or created_by.network_id
    )
    rows = post_transfer(
        Transfer(TxKind.ADJUSTMENT, amount_minor, debit, credit, f"adjustment:{key}", memo=memo),
        network_id=network_id, asset=asset, created_by=created_by, approved_by=approved_by,
    )  # fmt: skip
    return rows[0]


def propose_adjustment(
    *, actor: Any, balance: AgentBalance, direction: str, amount_minor: int, memo: str
) -> LedgerAdjustment:
    """Staff propose a correction of one balance against the adjustments account; nothing moves
    until a second staff member approves it (``approve_adjustment``)."""
    if actor is None or not actor.is_staff:
        raise PermissionDenied()
    check_amount(amount_minor)
    if direction not in AdjustmentDirection.values:
        raise ValidationFailed("Credit or debit.", field="direction")
    memo = (memo or "").strip()
    if not memo:
        raise ValidationFailed("An adjustment says why.", field="memo")
    adjustment = LedgerAdjustment.objects.create(
        network_id=balance.network_id, balance=balance, direction=direction, amount_minor=amount_minor,
        memo=memo[:500], created_by=actor,
    )  # fmt: skip
    audit_record(network=balance.network_id, actor=actor, action="bounty.adjustment.propose", target=adjustment,
                 data={"direction": direction, "amount_minor": amount_minor})  # fmt: skip
    return adjustment


@transaction.atomic
def approve_adjustment(*, actor: Any, adjustment: LedgerAdjustment) -> LedgerAdjustment:
    """A second staff member approves: one adjustment transfer is posted (its creator → 403
    ``self_approval``; a debit beyond the balance → 409; nothing written either way)."""
    adjustment = (
        LedgerAdjustment.objects.select_for_update()
        .select_related("balance", "created_by")
        .get(pk=adjustment.pk)
    )
    if adjustment.status == AdjustmentStatus.APPROVED:
        return adjustment
    if adjustment.status != AdjustmentStatus.PENDING:
        raise InvalidState(f"A {adjustment.status} adjustment is not approved.")
    balance = adjustment.balance
    debit, credit = (
        ("adjustments", balance)
        if adjustment.direction == AdjustmentDirection.CREDIT
        else (balance, "adjustments")
    )
    tx = post_adjustment(
        created_by=adjustment.created_by, approved_by=actor, debit=debit, credit=credit, asset=balance.asset,
        amount_minor=adjustment.amount_minor, key=str(adjustment.pk), memo=adjustment.memo,
    )  # fmt: skip
    now = timezone.now()
    adjustment.status, adjustment.decided_by, adjustment.decided_at, adjustment.transaction = (
        AdjustmentStatus.APPROVED, actor, now, tx,
    )  # fmt: skip
    adjustment.save(update_fields=["status", "decided_by", "decided_at", "transaction", "updated_at"])
    audit_record(
        network=adjustment.network_id, actor=actor, action="bounty.adjustment.approve", target=adjustment
    )
    return adjustment


@transaction.atomic
def reject_adjustment(*, actor: Any, adjustment: LedgerAdjustment) -> LedgerAdjustment:
    """Any other staff member (or its creator, withdrawing it) rejects a pending adjustment."""
    if actor is None or not actor.is_staff:
        raise PermissionDenied()
    adjustment = LedgerAdjustment.objects.select_for_update().get(pk=adjustment.pk)
    if adjustment.status == AdjustmentStatus.REJECTED:
        return adjustment
    if adjustment.status != AdjustmentStatus.PENDING:
        raise InvalidState(f"A {adjustment.status} adjustment is not rejected.")
    adjustment.status, adjustment.decided_at = AdjustmentStatus.REJECTED, timezone.now()
    adjustment.decided_by = actor if actor.pk != adjustment.created_by_id else None
    adjustment.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    audit_record(
        network=adjustment.network_id, actor=actor, action="bounty.adjustment.reject", target=adjustment
    )
    return adjustment


# --- wallets ------------------------------------------------------------------------------


def normalize_address(chain: str, address: str) -> str:
    chain = (chain or "").strip().lower()
    address = (address or "").strip()
    if chain in EVM_CHAINS:
        from eth_utils import is_address, to_checksum_address

        if not is_address(address):
            raise ValidationFailed("Not an EVM address.", field="address", code="invalid_address")
        if address != address.lower() and address[2:] != address[2:].upper():
            # mixed case carries an EIP-55 checksum: it must be right
            if to_checksum_address(address) != address:
                raise ValidationFailed(
                    "The address checksum is wrong.", field="address", code="invalid_address"
                )
        return to_checksum_address(address)
    if chain == "solana":
        import re

        if not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{32,44}", address):
            raise ValidationFailed("Not a base58 address.", field="address", code="invalid_address")
        return address
    raise ValidationFailed(f"Unknown chain {chain!r}.", field="chain", code="unknown_chain")


@transaction.atomic
def add_wallet(
    *, actor: Any, chain: str, address: str, label: str = "", organization: Any = None
) -> BountyWallet:
    normalized = normalize_address(chain, address)
    owner: dict[str, Any] = {"owner_user": actor}
    if organization is not None:
        ensure_same_network(actor.network_id, organization)
        if not has_org_permission(actor, organization, "org.funds"):
            raise PermissionDenied()
        owner = {"owner_organization": organization}
    if BountyWallet.objects.filter(
        network_id=actor.network_id, chain=chain.lower(), address=normalized
    ).exists():
        raise InvalidState("This address is already registered.", code="wallet_exists")
    return BountyWallet.objects.create(
        network_id=actor.network_id, chain=chain.lower(), address=normalized, label=label, **owner
    )


@transaction.atomic
def update_wallet(*, actor: Any, wallet: BountyWallet, label: str | None = None,
                  is_default: bool | None = None) -> BountyWallet:  # fmt: skip
    wallet = BountyWallet.objects.select_for_update().get(pk=wallet.pk)
    if label is not None:
        wallet.label = label
    if is_default:
        others = BountyWallet.objects.filter(network_id=wallet.network_id, chain=wallet.chain, is_default=True,
                                             owner_user_id=wallet.owner_user_id,
                                             owner_organization_id=wallet.owner_organization_id)  # fmt: skip
        others.exclude(pk=wallet.pk).update(is_default=False)
        wallet.is_default = True
    elif is_default is False:
        wallet.is_default = False
    wallet.save(update_fields=["label", "is_default", "updated_at"])
    return wallet


@transaction.atomic
def disable_wallet(*, actor: Any, wallet: BountyWallet) -> BountyWallet:
    """Wallets are never deleted (ledger rows point at them): disabled, no more payouts."""
    BountyWallet.objects.filter(pk=wallet.pk).update(
        status=WalletStatus.DISABLED, is_default=False, verification_nonce=None, updated_at=timezone.now()
    )
    wallet.refresh_from_db()
    return wallet


def wallet_message(wallet: BountyWallet) -> str:
    return f"Colony wallet verification\naddress: {wallet.address}\nnonce: {wallet.verification_nonce}"


@transaction.atomic
def challenge_wallet(*, actor: Any, wallet: BountyWallet) -> str:
    """A fresh nonce to sign (EIP-191 personal_sign); returns the message."""
    wallet = BountyWallet.objects.select_for_update().get(pk=wallet.pk)
    if wallet.status == WalletStatus.DISABLED:
        raise InvalidState("The wallet is disabled.")
    wallet.verification_nonce = secrets.token_hex(16)
    wallet.save(update_fields=["verification_nonce", "updated_at"])
    return wallet_message(wallet)


@transaction.atomic
def verify_wallet(*, actor: Any, wallet: BountyWallet, signature: str) -> BountyWallet:
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from eth_utils.exceptions import ValidationError as SignatureShapeError

    wallet = BountyWallet.objects.select_for_update().get(pk=wallet.pk)
    if wallet.chain not in EVM_CHAINS:
        raise ValidationFailed("Signed verification is for EVM chains.", field="chain")
    if not wallet.verification_nonce:
        raise InvalidState("Ask for a challenge first.", code="no_challenge")
    try:
        signer = Account.recover_message(encode_defunct(text=wallet_message(wallet)), signature=signature)
    except (ValueError, TypeError, SignatureShapeError) as exc:
        raise ValidationFailed(
            "The signature is not valid.", field="signature", code="invalid_signature"
        ) from exc
    if signer != wallet.address:
        raise ValidationFailed(
            "The signature is not by this address.", field="signature", code="invalid_signature"
        )
    wallet.status, wallet.verified_at, wallet.verification_nonce = WalletStatus.VERIFIED, timezone.now(), None
    wallet.save(update_fields=["status", "verified_at", "verification_nonce", "updated_at"])
    return wallet


# --- payouts ------------------------------------------------------------------------------


@transaction.atomic
def request_payout(
    *, actor: Any, balance: AgentBalance, amount_minor: int, idempotency_key: str, method: str = PayoutMethod.ONCHAIN,
    wallet: BountyWallet | None = None,
) -> PayoutRequest:  # fmt: skip
    check_amount(amount_minor)
    ensure_same_network(actor.network_id, balance, wallet)
    if not idempotency_key:
        raise ValidationFailed("Payouts need an Idempotency-Key.", field="idempotency_key")
    existing = PayoutRequest.objects.filter(
        network_id=balance.network_id, idempotency_key=idempotency_key
    ).first()
    if existing is not None:
        if existing.balance_id != balance.pk or existing.amount_minor != amount_minor:
            raise InvalidState(
                "This Idempotency-Key was used for another payout.", code="idempotency_conflict"
            )
        return existing
    if not can_manage_balance(actor, balance):
        raise NotFound()
    asset = settings.BOUNTY_ASSETS[balance.asset]
    if amount_minor < asset["min_payout_minor"]:
        raise ValidationFailed(
            f"The least payout of {balance.asset} is {asset['min_payout_minor']}.", field="amount_minor",
            code="below_minimum",
        )  # fmt: skip
    rails.rail_for(method).check(actor=actor, balance=balance, wallet=wallet)
    try:
        with transaction.atomic():
            payout = PayoutRequest.objects.create(
                network_id=balance.network_id, balance=balance, requested_by=actor, amount_minor=amount_minor,
                asset=balance.asset, method=method, wallet=wallet, idempotency_key=idempotency_key,
            )  # fmt: skip
    except IntegrityError:
        return PayoutRequest.objects.get(network_id=balance.network_id, idempotency_key=idempotency_key)
    post_transfer(
        Transfer(TxKind.PAYOUT_RESERVE, amount_minor, balance, "payout_clearing", f"payout:{payout.pk}:reserve"),
        network_id=balance.network_id, asset=balance.asset, created_by=actor, payout=payout, wallet=wallet,
    )  # fmt: skip
    threshold = int(balance.network.setting("payout_threshold_minor", 0) or 0)
    if amount_minor <= threshold:
        PayoutRequest.objects.filter(pk=payout.pk).update(status=PayoutStatus.APPROVED)
        payout.status = PayoutStatus.APPROVED
    return payout


def _move_payout(
    payout: PayoutRequest, *, to: str, allowed: tuple[str, ...], **fields: Any
) -> tuple[PayoutRequest, bool]:
    """Lock the row and move it to ``to`` from one of ``allowed``; (row, moved). Already ``to``
    → not moved (a replay); any other state → 409 ``invalid_state``."""
    payout = PayoutRequest.objects.select_for_update().get(pk=payout.pk)
    if payout.status == to:
        return payout, False
    if payout.status not in allowed:
        raise InvalidState(f"A {payout.status} payout cannot become {to}.")
    for name, value in {"status": to, **fields}.items():
        setattr(payout, name, value)
    payout.save(update_fields=["status", *fields.keys(), "updated_at"])
    return payout, True


def _reverse(payout: PayoutRequest, *, actor: Any, memo: str) -> None:
    post_transfer(
        Transfer(TxKind.PAYOUT_REVERSE, payout.amount_minor, "payout_clearing", payout.balance,
                 f"payout:{payout.pk}:reverse", memo=memo),
        network_id=payout.network_id, asset=payout.asset, created_by=actor, payout=payout,
    )  # fmt: skip


def _staff_only(actor: Any) -> None:
    """Staff moves (``actor=None`` is the system: a rail, a job)."""
    if actor is not None and not actor.is_staff:
        raise PermissionDenied()


def _audit_staff(actor: Any, payout: PayoutRequest, action: str, **data: Any) -> None:
    if actor is not None and actor.is_staff:
        audit_record(
            network=payout.network_id, actor=actor, action=f"bounty.payout.{action}", target=payout, data=data
        )


@transaction.atomic
def approve_payout(*, actor: Any, payout: PayoutRequest) -> PayoutRequest:
    if actor is None or not actor.is_staff:
        raise PermissionDenied()
    payout, moved = _move_payout(
        payout, to=PayoutStatus.APPROVED, allowed=(PayoutStatus.REQUESTED,), approved_by=actor
    )
    if moved:
        _audit_staff(actor, payout, "approve")
    return payout


@transaction.atomic
def cancel_payout(*, actor: Any, payout: PayoutRequest) -> PayoutRequest:
    if payout.requested_by_id != actor.pk and not actor.is_staff:
        raise PermissionDenied()
    payout, moved = _move_payout(
        payout, to=PayoutStatus.CANCELLED, allowed=(PayoutStatus.REQUESTED, PayoutStatus.APPROVED)
    )
    if moved:
        _reverse(payout, actor=actor, memo="cancelled")
    return payout


@transaction.atomic
def reject_payout(*, actor: Any, payout: PayoutRequest, reason: str) -> PayoutRequest:
    if actor is None or not actor.is_staff:
        raise PermissionDenied()
    payout, moved = _move_payout(
        payout, to=PayoutStatus.REJECTED, allowed=(PayoutStatus.REQUESTED, PayoutStatus.APPROVED),
        failure_reason=reason,
    )  # fmt: skip
    if moved:
        _reverse(payout, actor=actor, memo=f"rejected: {reason}")
        _audit_staff(actor, payout, "reject", reason=reason)
    return payout


@transaction.atomic
def settle_payout(*, actor: Any, payout: PayoutRequest, external_ref: str) -> PayoutRequest:
    """The rail (or staff with the tx hash) reports the money left: clearing → external."""
    _staff_only(actor)
    external_ref = (external_ref or "").strip()
    if not external_ref:
        raise ValidationFailed("Settling needs the external reference.", field="external_ref")
    if payout.method == PayoutMethod.ONCHAIN:
        if not TX_HASH.fullmatch(external_ref):
            raise ValidationFailed("Not a transaction hash (0x + 64 hex).", field="external_ref",
                                   code="invalid_tx_hash")  # fmt: skip
        external_ref = external_ref.lower()
    payout, moved = _move_payout(
        payout, to=PayoutStatus.SETTLED, allowed=(PayoutStatus.APPROVED, PayoutStatus.PROCESSING),
        external_ref=external_ref,
    )  # fmt: skip
    if moved:
        post_transfer(
            Transfer(TxKind.PAYOUT_SETTLE, payout.amount_minor, "payout_clearing", "external",
                     f"payout:{payout.pk}:settle", external_ref=external_ref),
            network_id=payout.network_id, asset=payout.asset, created_by=actor, payout=payout, wallet=payout.wallet,
        )  # fmt: skip
        _audit_staff(actor, payout, "settle", external_ref=external_ref)
        _tell_payout(payout, "settled")
    return payout


@transaction.atomic
def fail_payout(*, actor: Any, payout: PayoutRequest, reason: str) -> PayoutRequest:
    _staff_only(actor)
    payout, moved = _move_payout(
        payout,
        to=PayoutStatus.FAILED,
        allowed=(PayoutStatus.APPROVED, PayoutStatus.PROCESSING),
        failure_reason=reason,
    )
    if moved:
        _reverse(payout, actor=actor, memo=f"failed: {reason}")
        _audit_staff(actor, payout, "fail", reason=reason)
        _tell_payout(payout, "failed")
    return payout


def _tell_payout(payout: PayoutRequest, outcome: str) -> None:
    from apps.inbox.services import deliver_inbox_item

    deliver_inbox_item(
        recipient=payout.requested_by, kind="payout", target_type="bounties.payoutrequest", target_id=payout.pk,
        title=f"Payout {outcome}", body=f"{payout.amount_minor} {payout.asset} {outcome}.",
    )  # fmt: skip


def process_payouts(*, limit: int = 100) -> int:
    """approved → processing, then handed to its rail (outside the row lock): a settled send
    posts payout_settle with the reference, a failed one payout_reverse; a pending one stays
    processing — a Stripe transfer that failed transiently is sent again on a later run with
    the same idempotency key (``payout:<id>:transfer``), an on-chain one waits for the
    signer's report. Returns how many payouts were handed to a rail."""
    from datetime import timedelta

    count = 0
    retry_before = timezone.now() - timedelta(seconds=PAYOUT_RETRY_SECONDS)
    due = Q(status=PayoutStatus.APPROVED) | Q(
        status=PayoutStatus.PROCESSING, method=PayoutMethod.STRIPE_CONNECT, updated_at__lt=retry_before
    )
    while count < limit:
        with transaction.atomic():
            payout = (
                PayoutRequest.objects.select_for_update(skip_locked=True)
                .filter(due)
                .order_by("created_at")
                .first()
            )
            if payout is None:
                break
            payout.status = PayoutStatus.PROCESSING
            payout.save(update_fields=["status", "updated_at"])
        count += 1
        send_payout(payout)
    return count


def send_payout(payout: PayoutRequest) -> PayoutRequest:
    """Hand one processing payout to its rail and apply the answer."""
    sent = rails.rail_for(payout.method).send(payout)
    if sent.outcome == "settled":
        return settle_payout(actor=None, payout=payout, external_ref=sent.external_ref)
    if sent.outcome == "failed":
        return fail_payout(actor=None, payout=payout, reason=sent.reason)
    return payout


def required_confirmations(asset: str) -> int:
    return int(settings.BOUNTY_ASSETS[asset].get("confirmations", DEFAULT_CONFIRMATIONS))


@transaction.atomic
def report_onchain_payout(
    *, payout_id: Any, tx_hash: str, confirmations: int = 0, failed: bool = False, reason: str = ""
) -> PayoutRequest:
    """The on-chain signer's (signed) report: the transaction hash is recorded on the payout,
    confirmations only grow, and at the asset's required confirmations the payout settles
    (payout_settle with the hash) — or a reported failure reverses it. Replays change nothing."""
    tx_hash = (tx_hash or "").strip().lower()
    if not TX_HASH.fullmatch(tx_hash):
        raise ValidationFailed(
            "Not a transaction hash (0x + 64 hex).", field="tx_hash", code="invalid_tx_hash"
        )
    if isinstance(confirmations, bool) or not isinstance(confirmations, int) or confirmations < 0:
        raise ValidationFailed("A non-negative integer.", field="confirmations")
    try:
        payout = PayoutRequest.objects.select_for_update().get(
            pk=uuid.UUID(str(payout_id)), method=PayoutMethod.ONCHAIN
        )
    except (ValueError, PayoutRequest.DoesNotExist):
        raise NotFound("No such on-chain payout.") from None
    if payout.external_ref and payout.external_ref != tx_hash:
        raise Conflict("The payout was reported with another transaction.", code="tx_hash_mismatch")
    if payout.status in (PayoutStatus.SETTLED, PayoutStatus.FAILED):
        if (payout.status == PayoutStatus.FAILED) != failed:
            raise InvalidState(f"The payout is already {payout.status}.")
        return payout
    if payout.status != PayoutStatus.PROCESSING:
        raise InvalidState(f"A {payout.status} payout is not being sent.")
    PayoutRequest.objects.filter(pk=payout.pk).update(
        external_ref=tx_hash,
        confirmations=max(payout.confirmations, confirmations),
        updated_at=timezone.now(),
    )
    payout.refresh_from_db()
    if failed:
        return fail_payout(actor=None, payout=payout, reason=reason or "reverted on chain")
    if payout.confirmations >= required_confirmations(payout.asset):
        return settle_payout(actor=None, payout=payout, external_ref=tx_hash)
    return payout
