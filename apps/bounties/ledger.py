"""``post_transfer``: the only writer of the ledger (and of cached balances and escrow holds).

One call posts one group of transfers in one transaction:

1. every touched ``AgentBalance`` and ``BountyEscrow`` is locked ``FOR UPDATE``,
   balances first then escrows, each in id order — one global lock order, so
   concurrent posters never deadlock;
2. *after* the locks, the idempotency keys are looked up: a replay (the same
   key committed before, or by a racer we just waited for) returns the rows
   first written and changes nothing;
3. debits are checked against the locked cached amounts (``insufficient_funds``
   → 409; the ``CHECK (available_minor >= 0)`` is the backstop);
4. the rows are inserted and the cached amounts move by ``F()`` expressions.

A row debits one account and credits one other with one positive integer
amount, so every transaction — and the whole ledger, per asset — sums to zero
by construction; ``reconcile`` recomputes the cached amounts from the rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum

from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.ids import uuid7

from .models import AgentBalance, BountyEscrow, SystemAccount, TreasuryTransaction

Account = AgentBalance | BountyEscrow | str


class InsufficientFunds(Conflict):
    default_code = "insufficient_funds"
    default_message = "The balance does not cover this amount."


@dataclass(frozen=True)
class Transfer:
    kind: str
    amount_minor: int
    debit: Account
    credit: Account
    idempotency_key: str
    external_ref: str | None = None
    memo: str = ""


def check_asset(asset: str) -> str:
    if asset not in settings.BOUNTY_ASSETS:
        raise ValidationFailed(f"Unknown asset {asset!r}.", field="asset", code="unknown_asset")
    return asset


def check_amount(amount: Any, *, field: str = "amount_minor") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed("The amount is a positive integer of minor units.", field=field)
    if amount > 2**62:
        raise ValidationFailed("The amount is too large.", field=field)
    return amount


def _side(account: Account) -> dict[str, Any]:
    if isinstance(account, AgentBalance):
        return {"balance": account}
    if isinstance(account, BountyEscrow):
        return {"escrow": account}
    if account in SystemAccount.values:
        return {"system": account}
    raise ValidationFailed(f"Not a ledger account: {account!r}.")


def _replayed(keys: list[str]) -> list[TreasuryTransaction] | None:
    rows = list(TreasuryTransaction.objects.filter(idempotency_key__in=keys).order_by("id"))
    if not rows:
        return None
    if len(rows) != len(keys):
        raise Conflict("Part of this group was posted under other keys.", code="idempotency_conflict")
    return rows


def post_transfer(
    *transfers: Transfer,
    network_id: Any,
    asset: str,
    group_id: uuid.UUID | None = None,
    created_by: Any = None,
    approved_by: Any = None,
    task: Any = None,
    payout: Any = None,
    wallet: Any = None,
    chain: str | None = None,
) -> list[TreasuryTransaction]:
    """Post ``transfers`` as one group (see the module docstring); returns the rows."""
    if not transfers:
        raise ValidationFailed("Nothing to post.")
    check_asset(asset)
    keys = [t.idempotency_key for t in transfers]
    if len(set(keys)) != len(keys) or not all(keys):
        raise ValidationFailed("Each transfer needs its own idempotency key.", field="idempotency_key")
    balances: dict[Any, AgentBalance] = {}
    escrows: dict[Any, BountyEscrow] = {}
    for t in transfers:
        check_amount(t.amount_minor)
        for account in (t.debit, t.credit):
            side = _side(account)
            obj = side.get("balance") or side.get("escrow")
            if obj is None:
                continue
            if obj.network_id != network_id:
                raise ValidationFailed("An account of another network.", code="cross_network")
            if obj.asset != asset:
                raise ValidationFailed(
                    f"The account holds {obj.asset}, not {asset}.", field="asset", code="asset_mismatch"
                )
            (balances if isinstance(obj, AgentBalance) else escrows)[obj.pk] = obj
        if _side(t.debit) == _side(t.credit):
            raise ValidationFailed("A transfer moves value between two different accounts.")

    with transaction.atomic():
        locked_balances = {
            b.pk: b for b in AgentBalance.objects.select_for_update().filter(pk__in=balances).order_by("id")
        }
        locked_escrows = {
            e.pk: e for e in BountyEscrow.objects.select_for_update().filter(pk__in=escrows).order_by("id")
        }
        replay = _replayed(keys)
        if replay is not None:
            return replay

        delta_balance: dict[Any, int] = defaultdict(int)
        delta_in: dict[Any, int] = defaultdict(int)
        delta_out: dict[Any, int] = defaultdict(int)
        delta_held: dict[Any, int] = defaultdict(int)
        group = group_id or uuid7()
        rows = []
        for t in transfers:
            debit, credit = _side(t.debit), _side(t.credit)
            if "balance" in debit:
                delta_balance[debit["balance"].pk] -= t.amount_minor
                delta_out[debit["balance"].pk] += t.amount_minor
            if "escrow" in debit:
                delta_held[debit["escrow"].pk] -= t.amount_minor
            if "balance" in credit:
                delta_balance[credit["balance"].pk] += t.amount_minor
                delta_in[credit["balance"].pk] += t.amount_minor
            if "escrow" in credit:
                delta_held[credit["escrow"].pk] += t.amount_minor
            rows.append(
                TreasuryTransaction(
                    network_id=network_id,
                    kind=t.kind,
                    asset=asset,
                    amount_minor=t.amount_minor,
                    from_balance=debit.get("balance"),
                    from_escrow=debit.get("escrow"),
                    from_system=debit.get("system"),
                    to_balance=credit.get("balance"),
                    to_escrow=credit.get("escrow"),
                    to_system=credit.get("system"),
                    group_id=group,
                    idempotency_key=t.idempotency_key,
                    external_ref=t.external_ref,
                    memo=t.memo[:500],
                    chain=chain,
                    wallet=wallet,
                    task=task,
                    payout=payout,
                    created_by=created_by,
                    approved_by=approved_by,
                )
            )
        for pk, delta in delta_balance.items():
            if locked_balances[pk].available_minor + delta < 0:
                raise InsufficientFunds()
        for pk, delta in delta_held.items():
            if locked_escrows[pk].held_minor + delta < 0:
                raise InsufficientFunds("The escrow does not hold this amount.")
        try:
            with transaction.atomic():
                TreasuryTransaction.objects.bulk_create(rows)
                for pk in set(delta_balance) | set(delta_in) | set(delta_out):
                    AgentBalance.objects.filter(pk=pk).update(
                        available_minor=F("available_minor") + delta_balance[pk],
                        lifetime_in_minor=F("lifetime_in_minor") + delta_in[pk],
                        lifetime_out_minor=F("lifetime_out_minor") + delta_out[pk],
                    )
                for pk, delta in delta_held.items():
                    BountyEscrow.objects.filter(pk=pk).update(held_minor=F("held_minor") + delta)
        except IntegrityError as exc:
            text = str(exc)
            if "nonneg" in text:
                raise InsufficientFunds() from exc
            if "external_ref" in text:
                raise Conflict("This external reference was already recorded.", code="duplicate_ref") from exc
            if "idempotency_key" in text:  # a racer without a locked account (system → system)
                replay = _replayed(keys)
                if replay is not None:
                    return replay
            raise
        for account in list(balances.values()) + list(escrows.values()):
            account.refresh_from_db()
        return rows


# --- reconciliation ------------------------------------------------------------------------


def _sums(qs: Any, column: str) -> dict[Any, int]:
    return {
        row[column]: row["total"]
        for row in qs.exclude(**{f"{column}__isnull": True})
        .values(column)
        .annotate(total=Sum("amount_minor"))
    }


def ledger_positions(*, network_id: Any = None) -> dict[str, Any]:
    """Every account's position recomputed from the rows (credits − debits)."""
    qs = TreasuryTransaction.objects.all()
    if network_id is not None:
        qs = qs.filter(network_id=network_id)
    positions: dict[str, dict[Any, int]] = {"balance": defaultdict(int), "escrow": defaultdict(int)}
    for side, sign in (("to", 1), ("from", -1)):
        for pk, total in _sums(qs, f"{side}_balance").items():
            positions["balance"][pk] += sign * total
        for pk, total in _sums(qs, f"{side}_escrow").items():
            positions["escrow"][pk] += sign * total
    system: dict[tuple[str, str], int] = defaultdict(int)
    for side, sign in (("to", 1), ("from", -1)):
        for row in (
            qs.exclude(**{f"{side}_system__isnull": True})
            .values("asset", f"{side}_system")
            .annotate(total=Sum("amount_minor"))
        ):
            system[(row["asset"], row[f"{side}_system"])] += sign * row["total"]
    return {"balance": positions["balance"], "escrow": positions["escrow"], "system": system}


def reconcile(*, network_id: Any = None, detail: bool = False) -> dict[str, Any]:
    """Compare cached amounts with the ledger and the per-asset zero sum; report, never fix.

    With ``detail`` the report also carries ``totals`` (the per-asset sum over all accounts)
    and ``system`` (each system account's position) for the admin's reconciliation view."""
    positions = ledger_positions(network_id=network_id)
    drift: list[dict[str, Any]] = []
    balances = AgentBalance.objects.all()
    escrows = BountyEscrow.objects.all()
    if network_id is not None:
        balances, escrows = balances.filter(network_id=network_id), escrows.filter(network_id=network_id)
    totals: dict[str, int] = defaultdict(int)
    for pk, asset, cached in balances.values_list("pk", "asset", "available_minor"):
        expected = positions["balance"].get(pk, 0)
        totals[asset] += expected
        if cached != expected:
            drift.append({"account": "balance", "id": str(pk), "cached": cached, "ledger": expected})
    for pk, asset, cached in escrows.values_list("pk", "asset", "held_minor"):
        expected = positions["escrow"].get(pk, 0)
        totals[asset] += expected
        if cached != expected:
            drift.append({"account": "escrow", "id": str(pk), "cached": cached, "ledger": expected})
    for (asset, _name), total in positions["system"].items():
        totals[asset] += total
    unbalanced = {asset: total for asset, total in totals.items() if total != 0}
    report = {"drift": drift, "unbalanced_assets": unbalanced, "ok": not drift and not unbalanced}
    if detail:
        report["totals"] = dict(sorted(totals.items()))
        report["system"] = sorted(
            (asset, name, total) for (asset, name), total in positions["system"].items()
        )
    return report


def escrow_paid_count(escrow_id: Any) -> int:
    return TreasuryTransaction.objects.filter(
        Q(kind="escrow_release") | Q(kind="escrow_refund"), from_escrow_id=escrow_id
    ).count()
