"""Seats pushed to Stripe: ``POST /billing-accounts/{id}/seats/`` → ``push_seats`` (Celery, after commit)
sets the subscription item's quantity at the stub with ``seats:<row>:<quantity>``; the account mirrors
Stripe's answer; seat limits still hold when members are added."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.billing.models import SeatChange
from apps.billing.services.stripe_accounts import (
    SEATS_RETRY,
    ensure_customer,
    push_seats,
    request_seats,
    start_checkout,
)
from apps.billing.services.stripe_events import apply_subscription
from apps.core.exceptions import Conflict
from apps.core.models import AuditEvent
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


def subscribed(user, org, stripe_server, *, seats: int = 3):
    """An organization on the live team plan with ``seats`` (through Checkout at the stub)."""
    account = ensure_customer(account=org_account(org))
    row, _ = start_checkout(actor=user, account=account, kind="subscription", plan="team", seats=seats)
    session = stripe_server.complete_checkout(row.stripe_session_id)
    apply_subscription(
        account_id=account.pk, sub=stripe_server.objects[session["subscription"]], at=timezone.now()
    )
    account.refresh_from_db()
    assert (account.plan, account.seats, account.is_live) == ("team", seats, True)
    return account


def _seats(client, account, seats, **headers):
    return client.post(
        f"/api/v1/billing-accounts/{account.pk}/seats/", {"seats": seats}, format="json", headers=headers
    )


def test_a_seat_change_is_pushed_to_stripe_with_a_row_key_and_mirrored(
    user, org, plans, stripe_server, django_capture_on_commit_callbacks
):
    account = subscribed(user, org, stripe_server)
    with django_capture_on_commit_callbacks(execute=True):
        response = _seats(_client(user), account, 7)
    assert response.status_code == 202, response.json()
    change = SeatChange.objects.get(pk=response.json()["id"])
    assert (change.status, change.quantity, change.previous_seats, change.stripe_quantity) == (
        "applied",
        7,
        3,
        7,
    )
    (pushed,) = stripe_server.calls("POST", f"/v1/subscriptions/{account.stripe_subscription_id}")
    assert pushed.headers["Idempotency-Key"] == f"seats:{change.pk}:7"
    item = stripe_server.objects[account.stripe_subscription_id]["items"]["data"][0]
    assert pushed.params["items"] == [{"id": item["id"], "quantity": "7"}]
    assert item["quantity"] == 7
    account.refresh_from_db()
    assert account.seats == 7 and account.included_ai_micros == plans["team"].included_ai_micros * 7
    assert AuditEvent.objects.filter(action="billing.seats_requested", target_id=account.pk).count() == 1
    body = _client(user).get(f"/api/v1/billing-accounts/{account.pk}/").json()
    assert body["seats"] == 7


def test_a_replayed_push_changes_nothing_twice(user, org, plans, stripe_server):
    account = subscribed(user, org, stripe_server)
    change, created = request_seats(actor=user, account=account, seats=5)
    assert created and change.status == "pending"
    assert push_seats(change_id=change.pk) == "applied"
    assert push_seats(change_id=change.pk) == "skipped"  # the row is done: no second call
    # our answer lost after Stripe applied it: the retried push carries the same key → Stripe replays
    SeatChange.objects.filter(pk=change.pk).update(status="pending")
    stripe_server.set_subscription(account.stripe_subscription_id, quantity=3)  # (the stub's view)
    assert push_seats(change_id=change.pk) == "applied"
    posts = stripe_server.calls("POST", f"/v1/subscriptions/{account.stripe_subscription_id}")
    assert [p.headers["Idempotency-Key"] for p in posts] == [f"seats:{change.pk}:5"] * 2
    assert [p.replayed for p in posts] == [False, True]
    account.refresh_from_db()
    assert account.seats == 5  # Stripe's (replayed) answer


def test_a_client_idempotency_key_returns_the_same_change(
    user, org, plans, stripe_server, django_capture_on_commit_callbacks
):
    account = subscribed(user, org, stripe_server)
    client = _client(user)
    with django_capture_on_commit_callbacks(execute=True):
        first = _seats(client, account, 6, **{"Idempotency-Key": "seat-k1"})
        again = _seats(client, account, 6, **{"Idempotency-Key": "seat-k1"})
        other = _seats(client, account, 8, **{"Idempotency-Key": "seat-k1"})
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 409)
    assert first.json()["id"] == again.json()["id"] and other.json()["code"] == "idempotency_key_reused"
    assert SeatChange.objects.filter(account=account).count() == 1
    assert len(stripe_server.calls("POST", "/v1/subscriptions/")) == 1


def test_stripe_down_retries_then_applies_once(user, org, plans, stripe_server, settings):
    account = subscribed(user, org, stripe_server)
    change, _ = request_seats(actor=user, account=account, seats=4)
    stripe_server.fail_next(f"/v1/subscriptions/{account.stripe_subscription_id}", "server_error")
    assert push_seats(change_id=change.pk) == SEATS_RETRY
    change.refresh_from_db()
    assert (change.status, change.attempts) == ("pending", 1) and "StripeUnavailable" in change.error
    account.refresh_from_db()
    assert account.seats == 3  # nothing mirrored before Stripe answered
    assert push_seats(change_id=change.pk) == "applied"
    account.refresh_from_db()
    assert account.seats == 4


def test_a_refused_push_fails_the_row_and_keeps_the_seats(user, org, plans, stripe_server):
    account = subscribed(user, org, stripe_server)
    change, _ = request_seats(actor=user, account=account, seats=4)
    stripe_server.objects.pop(account.stripe_subscription_id)  # gone at Stripe
    assert push_seats(change_id=change.pk) == "failed"
    account.refresh_from_db()
    assert account.seats == 3


def test_a_newer_request_supersedes_an_older_pending_one(user, org, plans, stripe_server):
    account = subscribed(user, org, stripe_server)
    older, _ = request_seats(actor=user, account=account, seats=9)
    newer, _ = request_seats(actor=user, account=account, seats=4)
    assert push_seats(change_id=newer.pk) == "applied"
    assert push_seats(change_id=older.pk) == "superseded"  # a late task never undoes the newer one
    account.refresh_from_db()
    assert account.seats == 4
    assert len(stripe_server.calls("POST", "/v1/subscriptions/")) == 1


def test_bad_seat_requests_are_clear_errors(user, org, plans, stripe_server):
    account = subscribed(user, org, stripe_server)
    OrganizationMemberFactory(organization=org, user=UserFactory(network=user.network), role="member")
    client = _client(user)
    cases = {
        0: (400, None),
        1: (400, "invalid_seats"),  # team takes 2–500
        501: (400, "invalid_seats"),
        3: (409, "seats_unchanged"),
    }
    for seats, (status, code) in cases.items():
        response = _seats(client, account, seats)
        assert response.status_code == status, (seats, response.json())
        if code:
            assert response.json()["code"] == code
    for _ in range(2):
        OrganizationMemberFactory(organization=org, user=UserFactory(network=user.network), role="member")
    below = _seats(client, account, 2)  # 4 members now
    assert below.status_code == 400 and below.json()["code"] == "seats_below_members"
    viewer = UserFactory(network=user.network)
    OrganizationMemberFactory(organization=org, user=viewer, role="viewer")
    assert _seats(_client(viewer), account, 6).status_code == 403
    free = org_account(OrganizationFactory(network=user.network, owner=user))
    response = _seats(client, free, 5)
    assert response.status_code == 409 and response.json()["code"] == "no_seat_subscription"
    assert not SeatChange.objects.exists() and stripe_server.calls("POST", "/v1/subscriptions/") == []


def test_seat_limits_hold_when_members_are_added_and_count_a_pending_decrease(
    user, org, plans, stripe_server
):
    from apps.organizations.services.members import add_member

    account = subscribed(user, org, stripe_server, seats=3)
    add_member(actor=user, organization=org, user=UserFactory(network=user.network))  # 2 of 3
    request_seats(actor=user, account=account, seats=2)  # pending: the third seat is going away
    with pytest.raises(Conflict) as caught:
        add_member(actor=user, organization=org, user=UserFactory(network=user.network))
    assert caught.value.code == "seat_limit_reached"
