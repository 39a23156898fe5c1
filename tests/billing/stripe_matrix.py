"""Cross-tenant matrix and organization-policy walk cases of the Stripe billing routes
(imported by tests/billing/matrix.py; registry: tests/matrix.py).

No case reaches Stripe: bodies fail validation first, or STRIPE_API_KEY is unset in
tests (409 ``stripe_not_configured``), or the seeded plans have no price (409).
"""

from __future__ import annotations

from tests.matrix import Ctx, OrgCtx, create, detail, exempt, org_reached
from tests.organizations.factories import OrganizationFactory

from .stripe_factories import BillingAccountFactory, credit_entry, org_account

exempt(
    "stripe-webhook",
    "signed Stripe callback: no client FK, the network comes from the account the event names",
)


@create("billing-account-list")
def _account_open(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    org = OrganizationFactory(network=other.network, owner=other.user)
    return {}, {"owner_organization": str(org.pk)}


def _own_account(ctx: Ctx) -> dict:
    return {"pk": BillingAccountFactory(owner_user=ctx.user).pk}


detail("billing-account-detail", methods=("get",))(_own_account)
detail("billing-account-checkout-sessions", methods=("post",), body={"plan": "team", "seats": 0})(
    _own_account
)
detail("billing-account-seats", methods=("post",), body={"seats": 0})(_own_account)
detail("billing-account-portal-sessions", methods=("post",))(_own_account)
detail("billing-account-connect-onboarding", methods=("post",))(_own_account)
detail("billing-account-invoices", methods=("get",))(_own_account)


@detail("billing-account-credit-ledger", methods=("get",))
def _own_ledger(ctx: Ctx) -> dict:
    account = BillingAccountFactory(owner_user=ctx.user)
    credit_entry(account, 500, f"matrix:{account.pk}")
    return {"pk": account.pk}


# --- the organization policy walk ---------------------------------------------------------


@org_reached(
    "billing-account-list",
    methods=("get", "post"),
    body=lambda ctx: {"owner_organization": str(ctx.org.pk)},
)
def _org_accounts(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(org_account(ctx.org).pk))
    return {}


def _org_account(ctx: OrgCtx) -> dict:
    return {"pk": org_account(ctx.org).pk}


org_reached("billing-account-detail", methods=("get",))(_org_account)
org_reached("billing-account-checkout-sessions", methods=("post",), body={"plan": "pro"})(_org_account)
org_reached("billing-account-seats", methods=("post",), body={"seats": 0})(_org_account)
org_reached("billing-account-portal-sessions", methods=("post",))(_org_account)
org_reached("billing-account-connect-onboarding", methods=("post",))(_org_account)
org_reached("billing-account-credit-ledger", methods=("get",))(_org_account)
org_reached("billing-account-invoices", methods=("get",))(_org_account)
