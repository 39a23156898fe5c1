"""``POST /api/v1/webhooks/stripe/``: signatures, exactly-once storage, handlers that re-fetch from the stub."""

from __future__ import annotations

import json
import time

import pytest
from django.core import mail
from rest_framework.test import APIClient

from apps.billing.models import BillingCheckoutSession, BillingInvoice, ConnectPayout, CreditLedgerEntry
from apps.billing.services.stripe_accounts import ensure_customer, start_checkout
from apps.core.models import InboundWebhook
from apps.inbox.models import InboxItem
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory
from tests.stripe_server import signed_headers

from .stripe_factories import org_account

pytestmark = pytest.mark.django_db
URL = "/api/v1/webhooks/stripe/"


def post(event, *, secret=None, timestamp=None, raw: bytes | None = None, headers=None):
    body = raw if raw is not None else json.dumps(event).encode()
    hdrs = (
        headers
        if headers is not None
        else signed_headers(body, **({"secret": secret} if secret else {}), timestamp=timestamp)
    )
    return APIClient().generic("POST", URL, body, content_type="application/json", headers=hdrs)


@pytest.fixture
def org(user):
    return OrganizationFactory(network=user.network, owner=user)


@pytest.fixture
def account(org, plans, stripe_server):
    return ensure_customer(account=org_account(org))


def _rows(**kw):
    return InboundWebhook.objects.filter(source="stripe", **kw)


def _subscribed(user, account, stripe_server, *, plan="team", seats=3):
    row, _ = start_checkout(actor=user, account=account, kind="subscription", plan=plan, seats=seats)
    session = stripe_server.complete_checkout(row.stripe_session_id)
    return row, session


# --- signatures ---------------------------------------------------------------------------


def test_bad_signature_is_400_recorded_invalid_and_nothing_processed(
    account, stripe_server, django_capture_on_commit_callbacks
):
    event = stripe_server.event(
        "customer.subscription.updated",
        {"id": "sub_x", "object": "subscription", "customer": account.stripe_customer_id},
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(event, secret="whsec_wrong")
    assert response.status_code == 400 and response.json()["code"] == "invalid_signature"
    assert not _rows(external_id=event["id"]).exists()
    invalid = _rows(signature_valid=False).get()
    assert (
        invalid.status == "ignored" and invalid.payload == {} and invalid.external_id.startswith("invalid:")
    )
    assert callbacks == [] and stripe_server.calls("GET", "/v1/") == []


def test_stale_signature_past_the_tolerance_is_400(account, stripe_server):
    event = stripe_server.event(
        "invoice.paid", {"id": "in_x", "object": "invoice", "customer": account.stripe_customer_id}
    )
    response = post(event, timestamp=int(time.time()) - 301)
    assert response.status_code == 400 and response.json()["code"] == "invalid_signature"
    assert not _rows(external_id=event["id"]).exists()


def test_missing_signature_header_is_400(account, stripe_server):
    response = post({"id": "evt_1"}, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_signed_body_that_is_not_json_is_400_and_not_stored(stripe_server):
    response = post(None, raw=b"not json at all")
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"
    assert not _rows(signature_valid=True).exists()


def test_signed_json_that_is_not_an_event_is_400(stripe_server):
    response = post({"hello": "world"})
    assert response.status_code == 400 and "id" in response.json()


def test_without_a_webhook_secret_nothing_is_accepted(stripe_server, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post({"id": "evt_1", "type": "x", "created": 1})
    assert response.status_code == 409


# --- exactly once ------------------------------------------------------------------------


def test_replayed_event_is_answered_200_and_processed_once(
    user, account, stripe_server, django_capture_on_commit_callbacks
):
    _, session = _subscribed(user, account, stripe_server)
    event = stripe_server.event("checkout.session.completed", session)
    with django_capture_on_commit_callbacks(execute=True):
        answers = [post(event) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["status"] for a in answers] == ["accepted"] + ["duplicate"] * 4
    row = _rows(external_id=event["id"]).get()
    assert (row.status, row.attempts, row.network_id) == ("processed", 1, account.network_id)
    assert len(stripe_server.calls("GET", "/v1/checkout/sessions/")) == 1
    account.refresh_from_db()
    assert (account.plan, account.seats, account.subscription_status) == ("team", 3, "active")
    assert account.included_ai_micros == 3 * 10_000_000


def test_processing_a_row_twice_does_nothing_the_second_time(
    user, account, stripe_server, django_capture_on_commit_callbacks
):
    from apps.billing.services.stripe_events import process_stripe_event

    _, session = _subscribed(user, account, stripe_server)
    with django_capture_on_commit_callbacks(execute=True):
        post(stripe_server.event("checkout.session.completed", session))
    row = _rows(signature_valid=True).get()
    assert process_stripe_event(webhook_id=row.pk) == "skipped"


def test_credit_top_up_checkout_credits_the_ledger_once(
    user, account, stripe_server, django_capture_on_commit_callbacks
):
    row, _ = start_checkout(actor=user, account=account, kind="credits", amount_minor=2500)
    session = stripe_server.complete_checkout(row.stripe_session_id)
    first = stripe_server.event("checkout.session.completed", session)
    with django_capture_on_commit_callbacks(execute=True):
        post(first)
        post(first)
    account.refresh_from_db()
    assert account.credit_balance_minor == 2500
    entry = CreditLedgerEntry.objects.get(account=account)
    assert (entry.kind, entry.amount_minor, entry.idempotency_key) == ("topup", 2500, f"checkout:{row.pk}")
    assert entry.external_ref.startswith("pi_")
    assert BillingCheckoutSession.objects.get(pk=row.pk).status == "completed"


# --- ordering ----------------------------------------------------------------------------


def test_out_of_order_subscription_updates_never_regress_state(
    user, account, stripe_server, django_capture_on_commit_callbacks
):
    _, session = _subscribed(user, account, stripe_server, seats=3)
    sub_id = session["subscription"]
    now = int(time.time())
    older = stripe_server.event(
        "customer.subscription.updated", stripe_server.set_subscription(sub_id, quantity=4), created=now - 60
    )
    newest_obj = stripe_server.set_subscription(sub_id, quantity=7, cancel_at_period_end=True)
    newest = stripe_server.event("customer.subscription.updated", newest_obj, created=now)
    with django_capture_on_commit_callbacks(execute=True):
        post(newest)
        post(older)  # delivered late
    account.refresh_from_db()
    assert (account.seats, account.cancel_at_period_end) == (7, True)
    assert _rows(external_id=older["id"]).get().status == "ignored"
    assert "stale" in _rows(external_id=older["id"]).get().error
    # and a newer deletion wins over everything before it
    stripe_server.set_subscription(sub_id, status="canceled")
    with django_capture_on_commit_callbacks(execute=True):
        post(
            stripe_server.event(
                "customer.subscription.deleted",
                {"id": sub_id, "object": "subscription", "customer": account.stripe_customer_id},
                created=now + 5,
            )
        )
    account.refresh_from_db()
    assert (account.plan, account.subscription_status, account.seats) == ("free", "canceled", 1)


# --- other handlers ---------------------------------------------------------------------


def test_invoice_payment_failed_tells_the_billing_roles_by_inbox_and_email(
    user, org, account, stripe_server, django_capture_on_commit_callbacks
):
    manager = UserFactory(network=user.network)
    OrganizationMemberFactory(organization=org, user=manager, role="billing")
    bystander = UserFactory(network=user.network)
    OrganizationMemberFactory(organization=org, user=bystander, role="admin")
    invoice = stripe_server.add_invoice(customer=account.stripe_customer_id, status="open", amount=4200)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(stripe_server.event("invoice.payment_failed", invoice)).status_code == 200
    row = BillingInvoice.objects.get(stripe_invoice_id=invoice["id"])
    assert row.payment_failed_at is not None and row.amount_due_minor == 4200
    recipients = set(
        InboxItem.objects.filter(target_type="billing.invoice").values_list("recipient_id", flat=True)
    )
    assert recipients == {user.pk, manager.pk}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([user.email, manager.email])
    assert "42.00 USD" in mail.outbox[0].body


def test_invoice_paid_is_mirrored(account, stripe_server, django_capture_on_commit_callbacks):
    invoice = stripe_server.add_invoice(customer=account.stripe_customer_id, status="paid", amount=1500)
    with django_capture_on_commit_callbacks(execute=True):
        post(stripe_server.event("invoice.paid", invoice))
    row = BillingInvoice.objects.get(stripe_invoice_id=invoice["id"])
    assert (row.status, row.amount_paid_minor, row.account_id) == ("paid", 1500, account.pk)
    assert row.paid_at is not None


def test_account_updated_mirrors_connect_status(
    user, account, stripe_server, django_capture_on_commit_callbacks
):
    from apps.billing.services.stripe_accounts import start_connect_onboarding

    start_connect_onboarding(actor=user, account=account)
    account.refresh_from_db()
    connect = stripe_server.set_account(
        account.stripe_connect_account_id,
        charges_enabled=True,
        payouts_enabled=True,
        requirements={"currently_due": []},
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(stripe_server.event("account.updated", connect, account=connect["id"]))
    account.refresh_from_db()
    assert (
        account.connect_charges_enabled,
        account.connect_payouts_enabled,
        account.connect_requirements_due,
    ) == (True, True, [])


def test_failed_payout_is_mirrored_and_reported_to_the_owner(
    user, account, stripe_server, django_capture_on_commit_callbacks
):
    from apps.billing.services.stripe_accounts import start_connect_onboarding

    start_connect_onboarding(actor=user, account=account)
    account.refresh_from_db()
    payout = stripe_server.add_payout(
        account=account.stripe_connect_account_id, status="failed", failure_code="account_closed"
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(stripe_server.event("payout.failed", payout, account=account.stripe_connect_account_id))
    row = ConnectPayout.objects.get(stripe_payout_id=payout["id"])
    assert (row.status, row.failure_code) == ("failed", "account_closed")
    assert InboxItem.objects.filter(recipient=user, kind="payout").exists()


def test_unknown_event_types_are_stored_and_ignored(
    account, stripe_server, django_capture_on_commit_callbacks
):
    event = stripe_server.event(
        "charge.refunded", {"id": "ch_1", "object": "charge", "customer": account.stripe_customer_id}
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post(event).status_code == 200
    row = _rows(external_id=event["id"]).get()
    assert row.status == "ignored" and "unhandled" in row.error
    assert stripe_server.calls("GET", "/v1/") == []


def test_event_for_an_unknown_customer_is_stored_once_and_ignored(
    stripe_server, django_capture_on_commit_callbacks
):
    event = stripe_server.event(
        "customer.subscription.updated",
        {"id": "sub_nobody", "object": "subscription", "customer": "cus_nobody"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post(event).status_code == 200
        assert post(event).json()["status"] == "duplicate"
    row = _rows(external_id=event["id"]).get()
    assert (row.status, row.error, row.network_id) == ("ignored", "unknown customer", None)


def test_stripe_down_keeps_the_event_for_a_retry_then_it_processes_once(user, account, stripe_server):
    from apps.billing.services.stripe_events import RETRY, process_stripe_event, receive_stripe_webhook

    _, session = _subscribed(user, account, stripe_server)
    event = stripe_server.event("checkout.session.completed", session)
    body = json.dumps(event).encode()
    row_id, outcome = receive_stripe_webhook(body=body, headers=signed_headers(body))
    assert outcome == "accepted"
    row = InboundWebhook.objects.get(pk=row_id)
    stripe_server.fail_next("/v1/checkout/sessions/", "server_error")
    assert process_stripe_event(webhook_id=row.pk) == RETRY
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("received", 1) and "StripeUnavailable" in row.error
    assert process_stripe_event(webhook_id=row.pk) == "processed"


def test_staff_reprocess_puts_a_failed_event_back(
    user, account, stripe_server, settings, django_capture_on_commit_callbacks
):
    from apps.billing.services.stripe_events import reprocess

    settings.STRIPE_EVENT_MAX_ATTEMPTS = 1
    invoice = stripe_server.add_invoice(customer=account.stripe_customer_id)
    event = stripe_server.event("invoice.paid", invoice)
    stripe_server.fail_next("/v1/invoices/", "server_error", times=10)
    with django_capture_on_commit_callbacks(execute=True):
        post(event)
    row = _rows(external_id=event["id"]).get()
    assert (row.status, row.attempts) == ("failed", 1)  # out of attempts
    stripe_server.reset()
    stripe_server.objects[invoice["id"]] = {**invoice}
    staff = UserFactory(network=user.network, is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        reprocess(webhook=row, actor=staff)
    row.refresh_from_db()
    assert row.status == "processed"
    assert BillingInvoice.objects.filter(stripe_invoice_id=invoice["id"]).exists()


# --- the lean intake ---------------------------------------------------------------------


def test_insert_once_writes_every_column_of_the_row():
    """``InboundWebhook.insert_once`` is raw SQL: a column added to the model must be added there."""
    columns = {f.column for f in InboundWebhook._meta.concrete_fields}
    head = InboundWebhook.INSERT_ONCE_SQL.split("(", 1)[1].split(")", 1)[0]
    assert {c.strip() for c in head.split(",")} == columns


def test_a_signed_event_postgres_cannot_store_is_400_not_500(stripe_server):
    raw = b'{"id": "evt_nul", "object": "event", "type": "x", "created": 1, "data": {"object": {"a": "\\u0000"}}}'
    response = post(None, raw=raw)
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"
    assert not _rows(external_id="evt_nul").exists()


def test_the_intake_answers_get_with_405(stripe_server):
    assert APIClient().get(URL).status_code == 405
