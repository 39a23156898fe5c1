"""Checkout, portal and Connect onboarding through the real SDK against the local Stripe stub."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.billing.models import BillingCheckoutSession, BillingStripeAccount
from apps.billing.services.stripe_accounts import account_for
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

from .stripe_factories import org_account

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def org(user):
    return OrganizationFactory(network=user.network, owner=user)


def _checkout(client, account, **body):
    headers = body.pop("headers", {})
    return client.post(
        f"/api/v1/billing-accounts/{account.pk}/checkout-sessions/", body, format="json", headers=headers
    )


def test_plan_checkout_creates_customer_once_and_returns_the_stub_session(user, org, plans, stripe_server):
    account = org_account(org)
    response = _checkout(_client(user), account, plan="team", seats=3)
    assert response.status_code == 201, response.json()
    assert response.json()["url"].startswith("https://checkout.stripe.test/")
    row = BillingCheckoutSession.objects.get(pk=response.json()["id"])
    assert (row.kind, row.plan, row.seats, row.status) == ("subscription", "team", 3, "open")
    create = stripe_server.calls("POST", "/v1/checkout/sessions")
    assert len(create) == 1
    assert create[0].headers["Idempotency-Key"] == f"checkout:{row.pk}"
    assert create[0].params["line_items"] == [{"price": "price_team_stub", "quantity": "3"}]
    assert create[0].params["mode"] == "subscription"
    customers = stripe_server.calls("POST", "/v1/customers")
    assert len(customers) == 1 and customers[0].headers["Idempotency-Key"] == f"customer:{account.pk}"
    account.refresh_from_db()
    assert account.stripe_customer_id.startswith("cus_")
    # a second checkout reuses the customer
    assert _checkout(_client(user), account, kind="credits", amount_minor=2500).status_code == 201
    assert len(stripe_server.calls("POST", "/v1/customers")) == 1


def test_retried_checkout_with_the_same_idempotency_key_creates_nothing_twice(
    user, org, plans, stripe_server
):
    account = org_account(org)
    client = _client(user)
    first = _checkout(client, account, plan="pro", headers={"Idempotency-Key": "k-1"})
    again = _checkout(client, account, plan="pro", headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and first.json()["url"] == again.json()["url"]
    assert BillingCheckoutSession.objects.filter(account=account).count() == 1
    assert len(stripe_server.calls("POST", "/v1/checkout/sessions")) == 1
    other = _checkout(client, account, plan="team", seats=2, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def test_sdk_network_retry_of_a_500_is_answered_by_the_stub_idempotently(
    user, org, plans, stripe_server, settings
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    stripe_server.fail_next("/v1/checkout/sessions", "server_error")
    response = _checkout(_client(user), org_account(org), plan="pro")
    assert response.status_code == 201, response.json()
    calls = stripe_server.calls("POST", "/v1/checkout/sessions")
    assert len(calls) == 2 and calls[0].headers["Idempotency-Key"] == calls[1].headers["Idempotency-Key"]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("card_declined", 402, "card_declined"),
        ("rate_limited", 429, "stripe_rate_limited"),
        ("server_error", 502, "stripe_error"),
    ],
)
def test_stripe_errors_are_clear_answers_and_leave_no_checkout_row(
    user, org, plans, stripe_server, kind, status, code
):
    account = org_account(org)
    stripe_server.fail_next("/v1/checkout/sessions", kind)
    response = _checkout(_client(user), account, plan="pro")
    assert response.status_code == status and response.json()["code"] == code
    assert not BillingCheckoutSession.objects.filter(account=account).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan": "platinum"}, "plan"),
        ({"plan": "free"}, "plan"),
        ({"plan": "team", "seats": 0}, "seats"),
        ({"plan": "team", "seats": -3}, "seats"),
        ({"plan": "team", "seats": 1}, "seats"),  # below the plan's minimum
        ({"kind": "credits"}, "amount_minor"),
        ({"kind": "credits", "amount_minor": 1}, "amount_minor"),  # below the top-up minimum
        ({}, "plan"),
    ],
)
def test_bad_checkout_input_is_400_with_the_field_and_calls_nothing(
    user, org, plans, stripe_server, body, field
):
    response = _checkout(_client(user), org_account(org), **body)
    assert response.status_code == 400 and field in response.json(), response.json()
    assert stripe_server.requests == []


def test_seats_below_the_member_count_are_refused(user, org, plans, stripe_server):
    for _ in range(3):
        OrganizationMemberFactory(organization=org, user=UserFactory(network=user.network))
    response = _checkout(_client(user), org_account(org), plan="team", seats=2)
    assert response.status_code == 400 and response.json()["code"] == "seats_below_members"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_only_owners_and_billing_managers_start_checkout(user, org, plans, stripe_server, role):
    account = org_account(org)
    someone = UserFactory(network=user.network)
    OrganizationMemberFactory(organization=org, user=someone, role=role)
    response = _checkout(_client(someone), account, plan="pro")
    assert response.status_code == 403
    assert _client(someone).get(f"/api/v1/billing-accounts/{account.pk}/").status_code == 200  # visible
    assert stripe_server.requests == []


def test_billing_role_starts_checkout_and_portal(user, org, plans, stripe_server):
    account = org_account(org)
    manager = UserFactory(network=user.network)
    OrganizationMemberFactory(organization=org, user=manager, role="billing")
    assert _checkout(_client(manager), account, plan="pro").status_code == 201
    portal = _client(manager).post(f"/api/v1/billing-accounts/{account.pk}/portal-sessions/")
    assert portal.status_code == 201 and portal.json()["url"].startswith("https://billing.stripe.test/")
    assert stripe_server.calls("POST", "/v1/billing_portal/sessions")[0].params["customer"].startswith("cus_")


def test_connect_onboarding_creates_the_account_once_and_returns_a_link(user, org, plans, stripe_server):
    account = org_account(org)
    client = _client(user)
    first = client.post(f"/api/v1/billing-accounts/{account.pk}/connect-onboarding/")
    second = client.post(f"/api/v1/billing-accounts/{account.pk}/connect-onboarding/")
    assert first.status_code == second.status_code == 201
    assert first.json()["url"].startswith("https://connect.stripe.test/")
    assert len(stripe_server.calls("POST", "/v1/accounts")) == 1
    assert len(stripe_server.calls("POST", "/v1/account_links")) == 2
    account.refresh_from_db()
    assert account.stripe_connect_account_id.startswith("acct_")
    body = client.get(f"/api/v1/billing-accounts/{account.pk}/").json()
    assert body["has_connect_account"] is True and "stripe_connect_account_id" not in body


def test_without_stripe_keys_checkout_is_409_not_500(user, org, plans, settings):
    settings.STRIPE_API_KEY = ""
    response = _checkout(_client(user), org_account(org), plan="pro")
    assert response.status_code == 409 and response.json()["code"] == "stripe_not_configured"


def test_open_account_for_an_org_is_idempotent_and_owner_only(user, org, plans):
    client = _client(user)
    first = client.post("/api/v1/billing-accounts/", {"owner_organization": str(org.pk)}, format="json")
    again = client.post("/api/v1/billing-accounts/", {"owner_organization": str(org.pk)}, format="json")
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    assert first.json()["plan"] == "free" and first.json()["credit_balance_minor"] == 0
    viewer = UserFactory(network=user.network)
    OrganizationMemberFactory(organization=org, user=viewer, role="viewer")
    refused = _client(viewer).post(
        "/api/v1/billing-accounts/", {"owner_organization": str(org.pk)}, format="json"
    )
    assert refused.status_code == 403
    mine = _client(viewer).post("/api/v1/billing-accounts/", {}, format="json")
    assert mine.status_code == 201 and mine.json()["owner_user"] == str(viewer.pk)


def test_a_live_team_plan_caps_members_at_its_seats(user, org, plans):
    from apps.core.exceptions import Conflict
    from apps.organizations.services.members import add_member

    org_account(org, plan="team", subscription_status="active", seats=2, stripe_subscription_id="sub_x")
    add_member(actor=user, organization=org, user=UserFactory(network=user.network))
    with pytest.raises(Conflict) as caught:
        add_member(actor=user, organization=org, user=UserFactory(network=user.network))
    assert caught.value.code == "seat_limit_reached"


def test_membership_changes_sync_the_seat_count(user, org, plans, django_capture_on_commit_callbacks):
    from apps.organizations.services.members import add_member

    account = org_account(org)
    with django_capture_on_commit_callbacks(execute=True):
        add_member(actor=user, organization=org, user=UserFactory(network=user.network))
    account.refresh_from_db()
    assert account.seats_used == 2 and account.seats_synced_at is not None


def test_account_for_makes_one_row_per_owner(user):
    a = account_for(network_id=user.network_id, owner_user_id=user.pk)
    b = account_for(network_id=user.network_id, owner_user_id=user.pk)
    assert a.pk == b.pk and BillingStripeAccount.objects.filter(owner_user=user).count() == 1
