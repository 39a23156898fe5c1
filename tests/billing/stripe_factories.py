"""Stripe-half factories: billing accounts (org- or user-owned) and the plans with stub prices.

Plans are seeded by a data migration, but a live (transactional) test flushes
them: ``priced_plans()`` makes sure all four exist and have a price id.
"""

from __future__ import annotations

import factory

from apps.billing.models import BillingPlan, BillingStripeAccount, CreditLedgerEntry
from tests.accounts.factories import UserFactory

PRICES = {"pro": "price_pro_stub", "team": "price_team_stub", "enterprise": "price_ent_stub"}
_PLANS = [
    ("free", "Free", False, 1, 3, 1_000_000, False, 0),
    ("pro", "Pro", False, 1, 1, 20_000_000, True, 1),
    ("team", "Team", True, 2, 500, 10_000_000, True, 2),
    ("enterprise", "Enterprise", True, 1, 100_000, 20_000_000, True, 3),
]


def priced_plans() -> dict[str, BillingPlan]:
    out = {}
    for code, name, per_seat, lo, hi, included, overage, position in _PLANS:
        plan, _ = BillingPlan.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "per_seat": per_seat,
                "min_seats": lo,
                "max_seats": hi,
                "included_ai_micros": included,
                "allows_overage": overage,
                "position": position,
                "stripe_price_id": PRICES.get(code, ""),
                "is_active": True,
            },
        )
        out[code] = plan
    return out


def _network(o):
    owner = o.owner_user or o.owner_organization
    return owner.network


class BillingAccountFactory(factory.django.DjangoModelFactory):
    """A user's account by default; ``owner_user=None, owner_organization=org`` for an org's."""

    class Meta:
        model = BillingStripeAccount

    owner_user = factory.SubFactory(UserFactory)
    owner_organization = None
    network = factory.LazyAttribute(_network)
    included_ai_micros = 1_000_000


def org_account(org, **kwargs) -> BillingStripeAccount:
    return BillingAccountFactory(owner_user=None, owner_organization=org, network=org.network, **kwargs)


def credit_entry(account, amount: int, key: str) -> CreditLedgerEntry:
    from apps.billing.services.credits import post_credit

    entry, _ = post_credit(account=account, amount_minor=amount, kind="topup", idempotency_key=key)
    return entry
