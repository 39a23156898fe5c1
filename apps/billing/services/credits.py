"""Prepaid credits: the append-only ledger (integer cents) and the account's cached balance.

``post_credit`` is the only writer. In one transaction it locks the account
row (``SELECT … FOR UPDATE``), returns the existing entry for a replayed
``idempotency_key``, else inserts the entry with the new running balance and
updates ``credit_balance_minor``. A debit past the balance is refused (409
``insufficient_credits``) — or, with ``up_to=True``, takes what is there —
so the balance never goes below zero under concurrency (the CHECKs are the
backstop).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.exceptions import Conflict, ValidationFailed

from ..models import BillingStripeAccount, CreditKind, CreditLedgerEntry


class InsufficientCredits(Conflict):
    default_code = "insufficient_credits"
    default_message = "The credit balance is too low."


@transaction.atomic
def post_credit(
    *,
    account: BillingStripeAccount | Any,
    amount_minor: int,
    kind: str,
    idempotency_key: str,
    external_ref: str = "",
    memo: str = "",
    actor: Any = None,
    up_to: bool = False,
) -> tuple[CreditLedgerEntry | None, bool]:
    """Move credits (+ in, − out); returns (entry, created). ``(None, False)`` when nothing was moved."""
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor == 0:
        raise ValidationFailed("Give a non-zero whole number of cents.", field="amount_minor")
    if kind not in CreditKind.values:
        raise ValidationFailed("Unknown credit movement.", field="kind")
    account_id = getattr(account, "pk", account)
    locked = BillingStripeAccount.objects.select_for_update().get(pk=account_id)
    existing = CreditLedgerEntry.objects.filter(
        network_id=locked.network_id, idempotency_key=idempotency_key
    ).first()
    if existing is not None:
        return existing, False
    if amount_minor < 0 and locked.credit_balance_minor + amount_minor < 0:
        if not up_to:
            raise InsufficientCredits(extra={"balance_minor": locked.credit_balance_minor})
        amount_minor = -locked.credit_balance_minor
        if amount_minor == 0:
            return None, False
    balance = locked.credit_balance_minor + amount_minor
    entry = CreditLedgerEntry.objects.create(
        network_id=locked.network_id,
        account=locked,
        kind=kind,
        amount_minor=amount_minor,
        balance_after_minor=balance,
        currency=locked.currency,
        idempotency_key=idempotency_key,
        external_ref=external_ref[:200],
        memo=memo[:200],
        created_by=actor,
    )
    BillingStripeAccount.objects.filter(pk=locked.pk).update(credit_balance_minor=balance)
    if isinstance(account, BillingStripeAccount):
        account.credit_balance_minor = balance
    return entry, True


def spend_credits(
    *, account: Any, amount_minor: int, idempotency_key: str, memo: str = "", actor: Any = None
) -> CreditLedgerEntry:
    """Consume ``amount_minor`` cents (all or nothing)."""
    if amount_minor <= 0:
        raise ValidationFailed("Give a positive number of cents.", field="amount_minor")
    entry, _ = post_credit(
        account=account,
        amount_minor=-amount_minor,
        kind=CreditKind.USAGE,
        idempotency_key=idempotency_key,
        memo=memo,
        actor=actor,
    )
    assert entry is not None
    return entry


@transaction.atomic
def adjust_credits(
    *, actor: Any, account: Any, amount_minor: int, memo: str, idempotency_key: str
) -> tuple[CreditLedgerEntry, bool]:
    """A staff grant (+) or correction (−) (the admin's credit form); returns (entry, created).

    Through ``post_credit`` (so never below zero: 409 ``insufficient_credits``), with a reason,
    and audited (``billing.credits_adjusted``) once: a replayed ``idempotency_key`` (a double
    submit) returns the first entry and records nothing — unless it named another amount or
    reason, which is a 409 ``idempotency_key_reused``.
    """
    if not getattr(actor, "is_staff", False):
        from apps.core.exceptions import PermissionDenied

        raise PermissionDenied("Only staff may adjust credits.")
    memo = (memo or "").strip()
    if not memo:
        raise ValidationFailed("Give the reason for the adjustment.", field="memo")
    entry, created = post_credit(
        account=account,
        amount_minor=amount_minor,
        kind=CreditKind.ADJUSTMENT,
        idempotency_key=idempotency_key,
        memo=memo,
        actor=actor,
    )
    assert entry is not None  # not up_to: a debit past the balance raised
    if not created:
        if (entry.kind, entry.amount_minor, entry.memo) != (CreditKind.ADJUSTMENT, amount_minor, memo[:200]):
            raise Conflict(
                "This form was already submitted with other values; reload it for a new adjustment.",
                code="idempotency_key_reused",
            )
        return entry, False
    from apps.core import audit

    audit.record(
        network=entry.network_id,
        actor=actor,
        action="billing.credits_adjusted",
        target=entry.account,
        organization=entry.account.owner_organization_id and entry.account.owner_organization,
        data={
            "amount_minor": amount_minor,
            "balance_after_minor": entry.balance_after_minor,
            "reason": memo[:200],
            "entry": str(entry.pk),
        },
    )
    return entry, True
