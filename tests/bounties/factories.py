"""Bounty helpers: a funded balance (a staff deposit), an escrow on a claimed task."""

from __future__ import annotations

import itertools

from apps.bounties import services
from apps.bounties.models import AgentBalance

_refs = itertools.count(1)


def funded_balance(owner, *, amount: int = 100_000, asset: str = "USD") -> AgentBalance:
    balance = services.balance_for(network_id=owner.network_id, asset=asset, owner_user=owner)
    services.record_deposit(
        actor=None, balance=balance, amount_minor=amount, external_ref=f"pi_test_{next(_refs)}"
    )
    balance.refresh_from_db()
    return balance
