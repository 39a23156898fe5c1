"""Billing list endpoints: constant queries at any page size, tenancy, no Stripe ids or secrets."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.billing.models import BillingInvoice
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

from .stripe_factories import BillingAccountFactory, credit_entry, org_account

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _orgs_with_accounts(user, n):
    for _ in range(n):
        org = OrganizationFactory(network=user.network)
        OrganizationMemberFactory(organization=org, user=user, role="billing")
        org_account(org, stripe_customer_id=f"cus_{org.pk.hex[:12]}", credit_balance_minor=0)


@pytest.mark.parametrize("size", [3, 25])
def test_account_list_queries_do_not_grow_with_the_page(user, size, django_assert_max_num_queries):
    BillingAccountFactory(owner_user=user)
    _orgs_with_accounts(user, size)
    client = _client(user)
    client.get("/api/v1/billing-accounts/")  # warm caches (session, network)
    with django_assert_max_num_queries(8):
        response = client.get(f"/api/v1/billing-accounts/?page_size={size + 1}")
    assert response.status_code == 200 and len(response.json()["results"]) == size + 1
    assert all("stripe_customer_id" not in row for row in response.json()["results"])


@pytest.mark.parametrize("size", [3, 30])
def test_ledger_and_invoice_lists_query_counts_are_constant(user, size, django_assert_max_num_queries):
    org = OrganizationFactory(network=user.network, owner=user)
    account = org_account(org)
    for i in range(size):
        credit_entry(account, 100, f"t-{i}")
        BillingInvoice.objects.create(
            network_id=account.network_id, account=account, stripe_invoice_id=f"in_{i}_{account.pk.hex[:8]}",
            amount_due_minor=100, synced_at=timezone.now(),
        )  # fmt: skip
    client = _client(user)
    client.get(f"/api/v1/billing-accounts/{account.pk}/")
    for path in ("credit-ledger", "invoices"):
        with django_assert_max_num_queries(10):
            response = client.get(f"/api/v1/billing-accounts/{account.pk}/{path}/?page_size={size}")
        assert response.status_code == 200 and len(response.json()["results"]) == size


def test_members_see_the_org_account_but_only_billing_roles_read_its_ledger(user):
    org = OrganizationFactory(network=user.network, owner=user)
    account = org_account(org, seats=5, plan="team")
    member = UserFactory(network=user.network)
    OrganizationMemberFactory(organization=org, user=member, role="member")
    listed = _client(member).get("/api/v1/billing-accounts/").json()["results"]
    assert [row["id"] for row in listed] == [str(account.pk)] and listed[0]["seats"] == 5
    assert _client(member).get(f"/api/v1/billing-accounts/{account.pk}/credit-ledger/").status_code == 403
    assert _client(user).get(f"/api/v1/billing-accounts/{account.pk}/credit-ledger/").status_code == 200


def test_outsiders_and_other_networks_do_not_see_an_account(user, other_user):
    account = org_account(OrganizationFactory(network=user.network, owner=user))
    outsider = UserFactory(network=user.network)
    assert _client(outsider).get(f"/api/v1/billing-accounts/{account.pk}/").status_code == 404
    assert _client(other_user).get(f"/api/v1/billing-accounts/{account.pk}/").status_code == 404
    assert _client(outsider).get("/api/v1/billing-accounts/").json()["results"] == []
