"""Credits (integer cents under the account's row lock), the plan allowance, metered overage."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.billing.ai.errors import AIQuotaExceeded
from apps.billing.models import AIUsageDaily, CreditLedgerEntry, UsageReport
from apps.billing.services import allowance
from apps.billing.services.credits import InsufficientCredits, post_credit, spend_credits
from apps.billing.services.stripe_accounts import ensure_customer
from apps.billing.services.stripe_usage import report_usage, usage_identifier
from tests.organizations.factories import OrganizationFactory

from .stripe_factories import BillingAccountFactory, credit_entry, org_account


@pytest.mark.django_db
def test_a_replayed_credit_key_moves_money_once(user):
    account = BillingAccountFactory(owner_user=user)
    first, created = post_credit(account=account, amount_minor=1000, kind="topup", idempotency_key="t-1")
    again, created_again = post_credit(
        account=account, amount_minor=1000, kind="topup", idempotency_key="t-1"
    )
    account.refresh_from_db()
    assert (created, created_again, first.pk == again.pk) == (True, False, True)
    assert account.credit_balance_minor == 1000 and first.balance_after_minor == 1000


@pytest.mark.django_db
def test_spending_past_the_balance_is_409_and_changes_nothing(user):
    account = BillingAccountFactory(owner_user=user)
    credit_entry(account, 300, "t-1")
    with pytest.raises(InsufficientCredits):
        spend_credits(account=account, amount_minor=301, idempotency_key="s-1")
    account.refresh_from_db()
    assert account.credit_balance_minor == 300 and CreditLedgerEntry.objects.count() == 1


@pytest.mark.django_db
def test_ledger_entries_are_immutable(user):
    entry = credit_entry(BillingAccountFactory(owner_user=user), 100, "t-1")
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [0, 1.5, True])
def test_credit_amounts_are_nonzero_integers(user, amount):
    from apps.core.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        post_credit(
            account=BillingAccountFactory(owner_user=user),
            amount_minor=amount,
            kind="topup",
            idempotency_key="x",
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_spends_never_take_the_balance_below_zero(network):
    from tests.accounts.factories import UserFactory

    account = BillingAccountFactory(owner_user=UserFactory(network=network))
    credit_entry(account, 1000, "t-1")
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def spend(i: int) -> None:
        try:
            barrier.wait(5)
            spend_credits(account=account.pk, amount_minor=300, idempotency_key=f"s-{i}")
            outcomes.append("ok")
        except InsufficientCredits:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    account.refresh_from_db()
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert account.credit_balance_minor == 100
    entries = CreditLedgerEntry.objects.filter(account=account)
    assert sum(e.amount_minor for e in entries) == 100
    assert min(e.balance_after_minor for e in entries) == 100


# --- the plan allowance (check_plan_allowance, called by billing.complete) ------------------


def _daily(account, day, cost, user):
    return AIUsageDaily.objects.create(
        network_id=account.network_id,
        day=day,
        billing_account_id=account.pk,
        user=user,
        model="gpt-test",
        is_byok=False,
        calls=1,
        cost_micros=cost,
    )


@pytest.mark.django_db
def test_allowance_charges_the_org_account_opened_lazily(user, plans):
    org = OrganizationFactory(network=user.network, owner=user)
    account_id = allowance.check_plan_allowance(user=user, organization=org.pk, estimate_micros=10)
    assert account_id == org.billing_accounts.get().pk


@pytest.mark.django_db
def test_allowance_refuses_a_free_account_past_its_month_without_credits(user, plans):
    account = BillingAccountFactory(owner_user=user, included_ai_micros=1_000)
    today = timezone.now().date()
    if today.day > 1:
        _daily(account, today - timedelta(days=1), 900, user)
    else:
        from tests.billing.factories import AIUsageFactory

        AIUsageFactory(user=user, billing_account_id=account.pk, cost_micros=900)
    with pytest.raises(AIQuotaExceeded):
        allowance.check_plan_allowance(user=user, estimate_micros=200)
    credit_entry(account, 100, "t-1")
    assert allowance.check_plan_allowance(user=user, estimate_micros=200) == account.pk


@pytest.mark.django_db
def test_allowance_lets_a_live_paid_plan_run_into_metered_overage(user, plans):
    account = BillingAccountFactory(
        owner_user=user, included_ai_micros=0, plan="pro", subscription_status="active"
    )
    assert allowance.check_plan_allowance(user=user, estimate_micros=5_000) == account.pk


# --- report_usage ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_overage_uses_credits_first_then_the_meter_once(user, plans, stripe_server):
    org = OrganizationFactory(network=user.network, owner=user)
    account = ensure_customer(
        account=org_account(org, included_ai_micros=1_000_000, plan="pro", subscription_status="active")
    )
    credit_entry(account, 50, "t-1")
    day = timezone.now().date() - timedelta(days=1)
    month_start = day.replace(day=1)
    if day > month_start:
        _daily(account, month_start, 800_000, user)  # earlier this month: within the allowance
        _daily(account, day, 1_500_000, user)  # 1.3 $ past it = 130 cents
        expected = 130
    else:
        _daily(account, day, 2_300_000, user)
        expected = 130
    counts = report_usage(day=day)
    assert counts["reported"] == 1
    report = UsageReport.objects.get(account=account, day=day)
    assert (report.overage_micros, report.credits_minor, report.metered_minor) == (
        1_300_000,
        50,
        expected - 50,
    )
    assert report.identifier == usage_identifier(account.pk, day)
    account.refresh_from_db()
    assert account.credit_balance_minor == 0
    [event] = stripe_server.calls("POST", "/v1/billing/meter_events")
    assert event.params["identifier"] == report.identifier
    assert event.headers["Idempotency-Key"] == report.identifier
    assert event.params["payload"] == {"stripe_customer_id": account.stripe_customer_id, "value": "80"}
    assert AIUsageDaily.objects.filter(
        billing_account_id=account.pk, day=day, reported_at__isnull=False
    ).exists()
    # a re-run reports nothing twice
    assert report_usage(day=day)["skipped"] == 1
    assert len(stripe_server.calls("POST", "/v1/billing/meter_events")) == 1
    assert CreditLedgerEntry.objects.filter(account=account, kind="usage").count() == 1


@pytest.mark.django_db
def test_usage_within_the_allowance_reports_zero(user, plans, stripe_server):
    account = ensure_customer(account=BillingAccountFactory(owner_user=user, included_ai_micros=5_000_000))
    day = timezone.now().date() - timedelta(days=1)
    _daily(account, day, 1_000, user)
    report_usage(day=day)
    report = UsageReport.objects.get(account=account)
    assert (report.status, report.metered_minor) == ("reported", 0)
    assert stripe_server.calls("POST", "/v1/billing/meter_events") == []


@pytest.mark.django_db
def test_a_failed_meter_call_is_retried_by_the_next_run(user, plans, stripe_server):
    account = ensure_customer(
        account=BillingAccountFactory(
            owner_user=user, included_ai_micros=0, plan="pro", subscription_status="active"
        )
    )
    day = timezone.now().date() - timedelta(days=1)
    _daily(account, day, 100_000, user)
    stripe_server.fail_next("/v1/billing/meter_events", "server_error")
    assert report_usage(day=day)["failed"] == 1
    assert UsageReport.objects.get(account=account).status == "failed"
    assert report_usage(day=day)["reported"] == 1
    assert stripe_server.meter_events[usage_identifier(account.pk, day)]["payload"]["value"] == "10"


@pytest.mark.django_db
def test_reconcile_repairs_a_missed_subscription_change(user, plans, stripe_server):
    from apps.billing.services.stripe_accounts import start_checkout
    from apps.billing.services.stripe_events import apply_subscription
    from apps.billing.services.stripe_usage import reconcile_subscriptions

    org = OrganizationFactory(network=user.network, owner=user)
    account = org_account(org)
    row, _ = start_checkout(actor=user, account=account, kind="subscription", plan="team", seats=2)
    session = stripe_server.complete_checkout(row.stripe_session_id)
    sub = stripe_server.set_subscription(session["subscription"])
    apply_subscription(account_id=account.pk, sub=sub, at=timezone.now() - timedelta(hours=1))
    stripe_server.set_subscription(session["subscription"], quantity=9, status="past_due")  # event lost
    counts = reconcile_subscriptions()
    account.refresh_from_db()
    assert counts == {"checked": 1, "repaired": 1, "failed": 0}
    assert (account.seats, account.subscription_status) == (9, "past_due")
