"""Stripe webhooks end to end: a live uvicorn server receives stub-signed deliveries, a real Celery
worker processes them (re-fetching from the stub over HTTP)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.billing.models import CreditLedgerEntry
from apps.billing.services.stripe_accounts import start_checkout
from apps.core.models import InboundWebhook
from tests.live import wait_for
from tests.organizations.factories import OrganizationFactory

from .stripe_factories import org_account, priced_plans

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(stripe_server, celery_worker_process):
    # stripe_server first: the worker inherits the STRIPE_* environment pointing at the stub
    return celery_worker_process


def test_one_event_replayed_20_times_concurrently_is_processed_exactly_once(
    stripe_server, worker, live_asgi, user
):
    priced_plans()
    org = OrganizationFactory(network=user.network, owner=user)
    account = org_account(org)
    row, _ = start_checkout(actor=user, account=account, kind="credits", amount_minor=1234)
    session = stripe_server.complete_checkout(row.stripe_session_id)
    event = stripe_server.event("checkout.session.completed", session)
    url = f"{live_asgi.url}/api/v1/webhooks/stripe/"

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: stripe_server.deliver(url, event), range(20)))

    assert [status for status, _ in answers] == [200] * 20
    statuses = sorted(body["status"] for _, body in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 19

    def processed():
        hook = InboundWebhook.objects.filter(source="stripe", external_id=event["id"]).first()
        return hook if hook and hook.status != "received" else None

    hook = wait_for(processed, timeout=60, message="the worker to process the Stripe event")
    assert (hook.status, hook.attempts, hook.error) == ("processed", 1, "")
    assert InboundWebhook.objects.filter(source="stripe", external_id=event["id"]).count() == 1
    account.refresh_from_db()
    assert account.credit_balance_minor == 1234
    assert CreditLedgerEntry.objects.filter(account=account).count() == 1
    # the worker re-fetched the session once: processed once
    assert len(stripe_server.calls("GET", f"/v1/checkout/sessions/{session['id']}")) == 1


def test_a_badly_signed_delivery_to_the_live_server_is_400_and_never_reaches_the_worker(
    stripe_server, live_asgi, user
):
    event = stripe_server.event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": "cus_1"})
    status, body = stripe_server.deliver(
        f"{live_asgi.url}/api/v1/webhooks/stripe/", event, secret="whsec_forged"
    )
    assert status == 400 and body["code"] == "invalid_signature"
    assert not InboundWebhook.objects.filter(external_id=event["id"]).exists()
    assert InboundWebhook.objects.filter(source="stripe", signature_valid=False).count() == 1


def test_a_seat_change_reaches_stripe_through_a_real_worker(stripe_server, worker, user):
    from django.db import transaction
    from django.utils import timezone

    from apps.billing.models import SeatChange
    from apps.billing.services.stripe_accounts import ensure_customer, request_seats
    from apps.billing.services.stripe_events import apply_subscription

    priced_plans()
    org = OrganizationFactory(network=user.network, owner=user)
    account = ensure_customer(account=org_account(org))
    row, _ = start_checkout(actor=user, account=account, kind="subscription", plan="team", seats=3)
    session = stripe_server.complete_checkout(row.stripe_session_id)
    sub_id = session["subscription"]
    with transaction.atomic():
        apply_subscription(account_id=account.pk, sub=stripe_server.objects[sub_id], at=timezone.now())
    account.refresh_from_db()

    change, _ = request_seats(actor=user, account=account, seats=6)  # autocommit: enqueued at once

    def applied():
        row = SeatChange.objects.get(pk=change.pk)
        return row if row.status != "pending" else None

    done = wait_for(applied, timeout=60, message="the worker to push the seat change")
    assert (done.status, done.stripe_quantity) == ("applied", 6)
    account.refresh_from_db()
    assert account.seats == 6
    (pushed,) = stripe_server.calls("POST", f"/v1/subscriptions/{sub_id}")
    assert pushed.headers["Idempotency-Key"] == f"seats:{change.pk}:6"
