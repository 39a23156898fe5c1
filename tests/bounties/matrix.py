"""Cross-tenant matrix and organization-policy cases of the bounty routes (tests/matrix.py)."""

from __future__ import annotations

from eth_account import Account

from apps.bounties import services
from apps.bounties.models import BountyWallet, DepositCheckout
from tests.dispatcher.factories import RoadmapTaskFactory
from tests.matrix import Ctx, OrgCtx, create, detail, exempt, org_reached
from tests.projects.factories import OrgProjectFactory, ProjectFactory

from .factories import funded_balance


def _wallet(**owner) -> BountyWallet:
    network = (owner.get("owner_user") or owner.get("owner_organization")).network
    return BountyWallet.objects.create(
        network=network, chain="base", address=Account.create().address, **owner
    )


def _escrow(ctx: Ctx, **escrow):
    funded_balance(ctx.user, amount=10_000)
    task = RoadmapTaskFactory(project=ProjectFactory(owner_user=ctx.user))
    return services.fund_escrow(actor=ctx.user, task=task, asset="USD", amount_minor=500, idempotency_key="m")


def _payout(ctx: Ctx):
    balance = funded_balance(ctx.user, amount=50_000_000, asset="USDC-BASE")
    wallet = _wallet(owner_user=ctx.user)
    BountyWallet.objects.filter(pk=wallet.pk).update(status="verified")
    wallet.refresh_from_db()
    return services.request_payout(actor=ctx.user, balance=balance, amount_minor=10_000_000, idempotency_key="m",
                                   wallet=wallet)  # fmt: skip


@detail("balance-transactions", methods=("get",))
def _transactions(ctx: Ctx) -> dict:
    return {"balance_pk": funded_balance(ctx.user).pk}


@detail("roadmap-task-escrows", methods=("get", "post"), body={"asset": "USD", "amount_minor": 100})
def _task_escrows(ctx: Ctx) -> dict:
    funded_balance(ctx.user)
    return {"task_pk": RoadmapTaskFactory(project=ProjectFactory(owner_user=ctx.user)).pk}


@detail("bounty-escrow-detail", methods=("get",))
def _escrow_detail(ctx: Ctx) -> dict:
    return {"pk": _escrow(ctx).pk}


@detail("bounty-escrow-top-up", methods=("post",), body={"amount_minor": 100})
def _top_up(ctx: Ctx) -> dict:
    return {"pk": _escrow(ctx).pk}


@detail("bounty-escrow-refund", methods=("post",))
def _refund(ctx: Ctx) -> dict:
    return {"pk": _escrow(ctx).pk}


@create("wallet-list")
def _wallet_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    from tests.organizations.factories import OrganizationFactory

    foreign = OrganizationFactory(network=other.network)
    return {}, {"chain": "base", "address": Account.create().address, "organization": str(foreign.pk)}


@detail("wallet-detail", methods=("get", "patch", "delete"), body={"label": "main"})
def _wallet_detail(ctx: Ctx) -> dict:
    return {"pk": _wallet(owner_user=ctx.user).pk}


@detail("wallet-challenge", methods=("post",))
def _wallet_challenge(ctx: Ctx) -> dict:
    return {"pk": _wallet(owner_user=ctx.user).pk}


@detail("wallet-verify", methods=("post",), body={"signature": "0x00"})
def _wallet_verify(ctx: Ctx) -> dict:
    return {"pk": _wallet(owner_user=ctx.user).pk}


@create("payout-request-list")
def _payout_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    balance = funded_balance(own.user, amount=50_000_000, asset="USDC-BASE")
    foreign = _wallet(owner_user=other.user)
    return {}, {"balance": str(balance.pk), "amount_minor": 10_000_000, "wallet": str(foreign.pk)}


@detail("payout-request-detail", methods=("get",))
def _payout_detail(ctx: Ctx) -> dict:
    return {"pk": _payout(ctx).pk}


@detail("payout-request-cancel", methods=("post",))
def _payout_cancel(ctx: Ctx) -> dict:
    return {"pk": _payout(ctx).pk}


def _deposit(balance, user) -> DepositCheckout:
    return DepositCheckout.objects.create(network=balance.network, balance=balance, requested_by=user,
                                          asset=balance.asset, amount_minor=1_000, client_key="m")  # fmt: skip


@create("deposit-checkout-list")
def _deposit_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    foreign = services.balance_for(network_id=other.network.pk, asset="USD", owner_user=other.user)
    return {}, {"balance": str(foreign.pk), "amount_minor": 1_000}


@detail("deposit-checkout-detail", methods=("get",))
def _deposit_detail(ctx: Ctx) -> dict:
    balance = services.balance_for(network_id=ctx.network.pk, asset="USD", owner_user=ctx.user)
    return {"pk": _deposit(balance, ctx.user).pk}


exempt("webhook-onchain-payouts", "signed signer callback (HMAC); the network comes from the payout row")


# --- the organization policy walk ---------------------------------------------------------------


def _org_balance(ctx: OrgCtx, *, asset: str = "USD", amount: int = 100_000):
    balance = services.balance_for(network_id=ctx.network.pk, asset=asset, owner_organization=ctx.org)
    services.record_deposit(
        actor=None, balance=balance, amount_minor=amount, external_ref=f"org-{balance.pk}"
    )
    balance.refresh_from_db()
    return balance


def _org_escrow(ctx: OrgCtx):
    _org_balance(ctx)
    task = RoadmapTaskFactory(project=OrgProjectFactory(owner_organization=ctx.org, network=ctx.network))
    return services.fund_escrow(actor=ctx.user, task=task, asset="USD", amount_minor=500, idempotency_key="o",
                                organization=ctx.org)  # fmt: skip


def _org_payout(ctx: OrgCtx):
    balance = _org_balance(ctx, asset="USDC-BASE", amount=50_000_000)
    wallet = _wallet(owner_organization=ctx.org)
    BountyWallet.objects.filter(pk=wallet.pk).update(status="verified")
    wallet.refresh_from_db()
    return services.request_payout(actor=ctx.user, balance=balance, amount_minor=10_000_000, idempotency_key="o",
                                   wallet=wallet)  # fmt: skip


@org_reached("balance-list", methods=("get",))
def _org_balances(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_balance(ctx).pk))
    return {}


@org_reached("balance-transactions", methods=("get",))
def _org_transactions(ctx: OrgCtx) -> dict:
    return {"balance_pk": _org_balance(ctx).pk}


@org_reached("roadmap-task-escrows", methods=("get", "post"),
             body=lambda ctx: {"asset": "USD", "amount_minor": 100, "organization": str(ctx.org.pk)})  # fmt: skip
def _org_task_escrows(ctx: OrgCtx) -> dict:
    _org_balance(ctx)
    return {"task_pk": RoadmapTaskFactory(project=OrgProjectFactory(owner_organization=ctx.org,
                                                                    network=ctx.network)).pk}  # fmt: skip


@org_reached("bounty-escrow-detail", methods=("get",))
def _org_escrow_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_escrow(ctx).pk}


@org_reached("bounty-escrow-top-up", methods=("post",), body={"amount_minor": 100})
def _org_top_up(ctx: OrgCtx) -> dict:
    return {"pk": _org_escrow(ctx).pk}


@org_reached("bounty-escrow-refund", methods=("post",))
def _org_refund(ctx: OrgCtx) -> dict:
    return {"pk": _org_escrow(ctx).pk}


@org_reached("wallet-list", methods=("get", "post"),
             body=lambda ctx: {"chain": "base", "address": Account.create().address,
                               "organization": str(ctx.org.pk)})  # fmt: skip
def _org_wallets(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_wallet(owner_organization=ctx.org).pk))
    return {}


@org_reached("wallet-detail", methods=("get", "patch", "delete"), body={"label": "x"})
def _org_wallet(ctx: OrgCtx) -> dict:
    return {"pk": _wallet(owner_organization=ctx.org).pk}


@org_reached("wallet-challenge", methods=("post",))
def _org_wallet_challenge(ctx: OrgCtx) -> dict:
    return {"pk": _wallet(owner_organization=ctx.org).pk}


@org_reached("wallet-verify", methods=("post",), body={"signature": "0x00"})
def _org_wallet_verify(ctx: OrgCtx) -> dict:
    wallet = _wallet(owner_organization=ctx.org)
    services.challenge_wallet(actor=ctx.user, wallet=wallet)
    return {"pk": wallet.pk}


@org_reached("payout-request-list", methods=("get",))
def _org_payouts(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_payout(ctx).pk))
    return {}


@org_reached("payout-request-detail", methods=("get",))
def _org_payout_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_payout(ctx).pk}


@org_reached("payout-request-cancel", methods=("post",))
def _org_payout_cancel(ctx: OrgCtx) -> dict:
    return {"pk": _org_payout(ctx).pk}


@org_reached("deposit-checkout-list", methods=("post",),
             body=lambda ctx: {"balance": str(_org_balance(ctx).pk), "amount_minor": 1_000})  # fmt: skip
def _org_deposits(ctx: OrgCtx) -> dict:
    return {}


@org_reached("deposit-checkout-detail", methods=("get",))
def _org_deposit_detail(ctx: OrgCtx) -> dict:
    return {"pk": _deposit(_org_balance(ctx), ctx.user).pk}
