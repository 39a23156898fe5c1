"""Payout rails: one interface, two rails (Stripe Connect transfers, on-chain).

A rail answers two questions:

- ``check(actor, balance, wallet)`` at request time — may this balance be paid out this way?
  (on-chain: a verified wallet of the balance's owner on the asset's chain; Stripe Connect:
  a fiat asset and the owner's Connect account with payouts enabled). Raises a domain error.
- ``send(payout)`` for a payout in ``processing`` (``services.process_payouts``), outside any
  lock. It returns a ``Sent``: ``settled`` with the external reference, ``failed`` with a
  reason, or ``pending`` (nothing known yet — the Stripe call failed transiently and is
  retried with the same idempotency key, or the on-chain signer reports later through the
  signed webhook, ``services.report_onchain_payout``).

The ledger moves stay in ``services`` (settle: payout_settle; fail: payout_reverse).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from apps.core.exceptions import InvalidState, ValidationFailed

from .models import AgentBalance, BountyWallet, PayoutMethod, PayoutRequest, WalletStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    outcome: str  # "settled" | "failed" | "pending"
    external_ref: str = ""
    reason: str = ""


class PayoutRail(Protocol):
    method: str

    def check(self, *, actor: Any, balance: AgentBalance, wallet: BountyWallet | None) -> None: ...

    def send(self, payout: PayoutRequest) -> Sent: ...


def _wallet_owner_matches(actor: Any, balance: AgentBalance, wallet: BountyWallet) -> bool:
    if (wallet.owner_user_id, wallet.owner_organization_id) == (
        balance.owner_user_id,
        balance.owner_organization_id,
    ):
        return True
    # an agent's earnings go to its owner's wallet
    return bool(balance.owner_user and balance.owner_user.is_ai and wallet.owner_user_id == actor.pk)


class OnchainRail:
    method = PayoutMethod.ONCHAIN

    def check(self, *, actor: Any, balance: AgentBalance, wallet: BountyWallet | None) -> None:
        asset = settings.BOUNTY_ASSETS[balance.asset]
        if not asset["chain"]:
            raise ValidationFailed(f"{balance.asset} is not paid on chain.", field="method")
        if wallet is None:
            raise ValidationFailed("An on-chain payout needs a wallet.", field="wallet")
        if wallet.status != WalletStatus.VERIFIED:
            raise InvalidState("The wallet is not verified.", code="wallet_unverified")
        if not _wallet_owner_matches(actor, balance, wallet):
            raise ValidationFailed("The wallet is not the balance owner's.", field="wallet")
        if asset["chain"] != wallet.chain:
            raise ValidationFailed(f"{balance.asset} is paid on {asset['chain']}.", field="wallet")

    def send(self, payout: PayoutRequest) -> Sent:
        # The signer (outside this service) sends the transaction and reports the hash and its
        # confirmations to POST /api/v1/webhooks/onchain-payouts/ (signed).
        return Sent("pending")


def connect_account_for(balance: AgentBalance) -> Any:
    """The BillingStripeAccount that receives ``balance``'s Stripe payouts: the owner's (an
    agent's balance: its owning user's or organization's), or None."""
    from apps.billing.models import BillingStripeAccount

    owner = {"owner_organization_id": balance.owner_organization_id}
    if balance.owner_user_id is not None:
        user = balance.owner_user
        if user.is_ai and user.agent_owner_organization_id:
            owner = {"owner_organization_id": user.agent_owner_organization_id}
        elif user.is_ai and user.agent_owner_user_id:
            owner = {"owner_user_id": user.agent_owner_user_id}
        else:
            owner = {"owner_user_id": user.pk}
    return BillingStripeAccount.objects.filter(network_id=balance.network_id, **owner).first()


def _connect_ready(account: Any) -> bool:
    return bool(account and account.stripe_connect_account_id and account.connect_payouts_enabled)


class StripeConnectRail:
    method = PayoutMethod.STRIPE_CONNECT

    def check(self, *, actor: Any, balance: AgentBalance, wallet: BountyWallet | None) -> None:
        if settings.BOUNTY_ASSETS[balance.asset]["chain"]:
            raise ValidationFailed(f"{balance.asset} is paid on chain, not by Stripe.", field="method")
        if wallet is not None:
            raise ValidationFailed("A Stripe payout takes no wallet.", field="wallet")
        if not _connect_ready(connect_account_for(balance)):
            raise InvalidState(
                "Finish Stripe Connect onboarding (payouts enabled) first.", code="connect_not_enabled"
            )

    def send(self, payout: PayoutRequest) -> Sent:
        import stripe

        from apps.billing.stripe_client import StripeUnavailable, call, stripe_client

        account = connect_account_for(payout.balance)
        if not _connect_ready(account):
            return Sent("failed", reason="the Stripe Connect account cannot receive payouts")
        params = {
            "amount": payout.amount_minor,
            "currency": "usd",
            "destination": account.stripe_connect_account_id,
            "transfer_group": f"payout_{payout.pk}",
            "metadata": {"payout_id": str(payout.pk), "network_id": str(payout.network_id)},
        }
        try:
            transfer = call(
                stripe_client().v1.transfers.create,
                params,
                {"idempotency_key": f"payout:{payout.pk}:transfer"},
            )
        except StripeUnavailable as exc:
            if isinstance(exc.__cause__, stripe.InvalidRequestError):  # refused: will not pass on a retry
                return Sent("failed", reason=f"Stripe refused the transfer: {exc.message}")
            logger.warning("payout %s: Stripe transfer failed (%s); retried later", payout.pk, exc.code)
            return Sent("pending")
        return Sent("settled", external_ref=transfer.id)


RAILS: dict[str, PayoutRail] = {
    PayoutMethod.ONCHAIN: OnchainRail(),
    PayoutMethod.STRIPE_CONNECT: StripeConnectRail(),
}


def rail_for(method: str) -> PayoutRail:
    try:
        return RAILS[method]
    except KeyError:
        raise ValidationFailed(f"Unknown payout method {method!r}.", field="method") from None
