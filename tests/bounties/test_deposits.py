"""Deposits: a Stripe Checkout (mode payment) started through the API, posted once by billing's
webhook keyed by the payment intent; staff-entered on-chain deposits are in test_admin_forms."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from apps.billing.services.stripe_events import process_stripe_event
from apps.bounties import ledger, services
from apps.bounties.models import DepositCheckout, TreasuryTransaction
from apps.core.models import InboundWebhook
from tests.stripe_server import signed_headers

from .factories import funded_balance

pytestmark = pytest.mark.django_db
URL = "/api/v1/deposits/checkout-sessions/"


@pytest.fixture
def usd(user):
    return services.balance_for(network_id=user.network_id, asset="USD", owner_user=user)


def _start(client, balance, amount=2_500, key="dep-1"):
    return client.post(URL, {"balance": str(balance.pk), "amount_minor": amount}, format="json",
                       headers={"Idempotency-Key": key})  # fmt: skip


def _deliver(stripe_server, session: dict) -> InboundWebhook:
    event = stripe_server.event("checkout.session.completed", session)
    body = json.dumps(event).encode()
    response = APIClient().generic(
        "POST",
        "/api/v1/webhooks/stripe/",
        body,
        content_type="application/json",
        headers=signed_headers(body),
    )
    assert response.status_code == 200, response.content
    row = InboundWebhook.objects.get(source="stripe", external_id=event["id"])
    process_stripe_event(webhook_id=row.pk)
    row.refresh_from_db()
    return row


def test_a_checkout_is_started_with_our_row_in_the_metadata_and_its_key(user_client, usd, stripe_server):
    response = _start(user_client, usd)
    assert response.status_code == 201, response.content
    body = response.json()
    row = DepositCheckout.objects.get()
    assert (
        body["id"] == str(row.pk) and body["status"] == "open" and body["url"].startswith("https://checkout")
    )
    (call,) = stripe_server.calls("POST", "/v1/checkout/sessions")
    assert call.headers["Idempotency-Key"] == f"bounty-deposit:{row.pk}"
    assert call.params["mode"] == "payment"
    assert call.params["metadata"] == {"kind": "bounty_deposit", "deposit_id": str(row.pk),
                                       "balance_id": str(usd.pk), "network_id": str(usd.network_id)}  # fmt: skip
    assert call.params["line_items"][0]["price_data"]["unit_amount"] == "2500"
    again = _start(user_client, usd)  # the same Idempotency-Key: the same row, no second session
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert len(stripe_server.calls("POST", "/v1/checkout/sessions")) == 1
    other = _start(user_client, usd, amount=3_000)  # the same key for another amount
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"


def test_a_paid_session_deposits_once_by_payment_intent_and_replays_change_nothing(
    user_client, usd, stripe_server
):
    _start(user_client, usd)
    row = DepositCheckout.objects.get()
    session = stripe_server.complete_checkout(row.stripe_session_id)
    webhook = _deliver(stripe_server, session)
    assert webhook.status == "processed"
    usd.refresh_from_db()
    row.refresh_from_db()
    tx = TreasuryTransaction.objects.get(kind="deposit")
    assert usd.available_minor == 2_500 and tx.external_ref == session["payment_intent"]
    assert row.status == "completed" and row.transaction_id == tx.pk
    # a second event for the same session, and the same event redelivered
    _deliver(stripe_server, session)
    event = stripe_server.event("checkout.session.completed", session)
    body = json.dumps(event).encode()
    for _ in range(2):
        APIClient().generic("POST", "/api/v1/webhooks/stripe/", body, content_type="application/json",
                            headers=signed_headers(body))  # fmt: skip
    process_stripe_event(webhook_id=InboundWebhook.objects.get(external_id=event["id"]).pk)
    usd.refresh_from_db()
    assert usd.available_minor == 2_500 and TreasuryTransaction.objects.filter(kind="deposit").count() == 1
    assert ledger.reconcile()["ok"]


def test_an_unpaid_or_mismatched_session_deposits_nothing(user_client, usd, stripe_server):
    _start(user_client, usd)
    row = DepositCheckout.objects.get()
    session = {"id": row.stripe_session_id, "payment_status": "paid", "amount_total": 2_500, "currency": "usd",
               "payment_intent": "pi_x", "metadata": {"kind": "bounty_deposit", "deposit_id": str(row.pk)}}  # fmt: skip
    assert (
        services.record_stripe_deposit(event_id="e1", session={**session, "payment_status": "unpaid"}) is None
    )
    assert services.record_stripe_deposit(event_id="e2", session={**session, "amount_total": 9_999}) is None
    assert services.record_stripe_deposit(event_id="e3", session={**session, "currency": "eur"}) is None
    assert services.record_stripe_deposit(event_id="e4", session={**session, "id": "cs_other"}) is None
    bad_id = {**session, "metadata": {"kind": "bounty_deposit", "deposit_id": "nope"}}
    assert services.record_stripe_deposit(event_id="e5", session=bad_id) is None
    assert not TreasuryTransaction.objects.filter(kind="deposit").exists()
    row.refresh_from_db()
    assert row.status == "open"


def test_bad_deposit_input_is_a_clear_400_and_writes_nothing(
    user_client, user, usd, other_user, stripe_server
):
    usdc = funded_balance(user, amount=10, asset="USDC-BASE")
    foreign = services.balance_for(network_id=other_user.network_id, asset="USD", owner_user=other_user)
    cases = [
        ({"balance": str(usd.pk), "amount_minor": 0}, "amount_minor"),
        ({"balance": str(usd.pk), "amount_minor": -5}, "amount_minor"),
        ({"balance": str(usd.pk), "amount_minor": "ten"}, "amount_minor"),
        ({"balance": str(usd.pk), "amount_minor": 10}, "amount_minor"),  # below Stripe's least charge
        ({"balance": str(usdc.pk), "amount_minor": 5_000}, "balance"),  # not a card asset
        ({"balance": str(foreign.pk), "amount_minor": 5_000}, "balance"),
    ]
    for body, field in cases:
        response = user_client.post(URL, body, format="json", headers={"Idempotency-Key": "k"})
        assert response.status_code == 400, (body, response.content)
        assert field in json.dumps(response.json()), (body, response.json())
    assert (
        user_client.post(URL, {"balance": str(usd.pk), "amount_minor": 5_000}, format="json").status_code
        == 400
    )
    assert not DepositCheckout.objects.exists() and stripe_server.calls("POST", "/v1/checkout/sessions") == []


def test_someone_elses_deposit_is_404(user_client, usd, stripe_server, network):
    from tests.accounts.factories import UserFactory

    _start(user_client, usd)
    row = DepositCheckout.objects.get()
    assert user_client.get(f"{URL}{row.pk}/").status_code == 200
    neighbour = APIClient()
    neighbour.force_login(UserFactory(network=network))
    assert neighbour.get(f"{URL}{row.pk}/").status_code == 404
