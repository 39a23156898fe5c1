"""Back-office forms and queues, as staff through Django's test client: record deposit (tx hash),
adjustments approved by a second staff member, the payout queue, escrow force moves (audited)
and the reconciliation view."""

from __future__ import annotations

import pytest
from django.test import Client
from eth_account import Account

from apps.bounties import ledger, services
from apps.bounties.models import BountyWallet, LedgerAdjustment, PayoutRequest, TreasuryTransaction
from apps.core.models import AuditEvent
from apps.dispatcher import services as dispatcher
from tests.dispatcher.factories import RoadmapTaskFactory
from tests.projects.factories import ProjectFactory

from .factories import funded_balance

pytestmark = pytest.mark.django_db
HASH = "0x" + "12" * 32
DEPOSIT = "/admin/bounties/treasurytransaction/record-deposit/"
PROPOSE = "/admin/bounties/ledgeradjustment/propose/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(staff):
    return _client(staff)


def test_staff_record_an_onchain_deposit_once_per_hash(staff_client, staff, user):
    balance = services.balance_for(network_id=user.network_id, asset="USDC-BASE", owner_user=user)
    assert staff_client.get(DEPOSIT).status_code == 200
    form = {
        "balance": str(balance.pk),
        "amount_minor": 7_000_000,
        "external_ref": HASH.upper().replace("X", "x"),
    }
    assert staff_client.post(DEPOSIT, form).status_code == 302
    balance.refresh_from_db()
    tx = TreasuryTransaction.objects.get(kind="deposit")
    assert balance.available_minor == 7_000_000 and tx.external_ref == HASH and tx.chain == "base"
    assert tx.created_by_id == staff.pk
    assert AuditEvent.objects.filter(action="bounty.deposit.record", actor=staff).exists()
    again = staff_client.post(DEPOSIT, form)  # the same hash
    assert again.status_code == 200 and b"already recorded" in again.content
    for bad in ({**form, "external_ref": "0x1234"}, {**form, "amount_minor": 0}, {**form, "amount_minor": -3},
                {**form, "balance": "00000000-0000-0000-0000-000000000000"}):  # fmt: skip
        response = staff_client.post(DEPOSIT, bad)
        assert response.status_code == 200 and b"errorlist" in response.content
    assert TreasuryTransaction.objects.filter(kind="deposit").count() == 1


def test_an_adjustment_needs_a_second_staff_member(staff_client, staff, other_staff, user):
    balance = funded_balance(user, amount=1_000)
    assert staff_client.get(PROPOSE).status_code == 200
    response = staff_client.post(
        PROPOSE, {"balance": str(balance.pk), "direction": "credit", "amount_minor": 250, "memo": "goodwill"}
    )
    assert response.status_code == 302
    adjustment = LedgerAdjustment.objects.get()
    assert (
        adjustment.status == "pending" and not TreasuryTransaction.objects.filter(kind="adjustment").exists()
    )
    changelist = "/admin/bounties/ledgeradjustment/"
    staff_client.post(changelist, {"action": "approve", "_selected_action": [adjustment.pk]})  # its creator
    adjustment.refresh_from_db()
    assert (
        adjustment.status == "pending" and not TreasuryTransaction.objects.filter(kind="adjustment").exists()
    )
    _client(other_staff).post(changelist, {"action": "approve", "_selected_action": [adjustment.pk]})
    adjustment.refresh_from_db()
    balance.refresh_from_db()
    tx = TreasuryTransaction.objects.get(kind="adjustment")
    assert adjustment.status == "approved" and adjustment.transaction_id == tx.pk
    assert (tx.created_by_id, tx.approved_by_id, tx.from_system) == (staff.pk, other_staff.pk, "adjustments")
    assert balance.available_minor == 1_250
    assert ledger.reconcile()["ok"]


def test_a_debit_adjustment_beyond_the_balance_is_refused_and_writes_nothing(staff, other_staff, user):
    balance = funded_balance(user, amount=100)
    adjustment = services.propose_adjustment(actor=staff, balance=balance, direction="debit", amount_minor=101,
                                             memo="clawback")  # fmt: skip
    _client(other_staff).post(
        "/admin/bounties/ledgeradjustment/", {"action": "approve", "_selected_action": [adjustment.pk]}
    )
    adjustment.refresh_from_db()
    balance.refresh_from_db()
    assert adjustment.status == "pending" and balance.available_minor == 100
    assert not TreasuryTransaction.objects.filter(kind="adjustment").exists()


def test_bad_adjustment_input_is_a_form_error(staff_client, user):
    balance = funded_balance(user, amount=100)
    for bad in ({"direction": "credit", "amount_minor": 0, "memo": "x"},
                {"direction": "sideways", "amount_minor": 5, "memo": "x"},
                {"direction": "credit", "amount_minor": 5, "memo": ""}):  # fmt: skip
        response = staff_client.post(PROPOSE, {"balance": str(balance.pk), **bad})
        assert response.status_code == 200 and b"errorlist" in response.content
    assert not LedgerAdjustment.objects.exists()


def _verified_wallet(user) -> BountyWallet:
    wallet = BountyWallet.objects.create(network=user.network, chain="base", address=Account.create().address,
                                         owner_user=user, status="verified")  # fmt: skip
    return wallet


def test_the_payout_queue_approve_settle_with_a_hash_reject_and_fail(staff_client, staff, user):
    balance = funded_balance(user, amount=100_000_000, asset="USDC-BASE")
    wallet = _verified_wallet(user)
    a, b, c, d = (
        services.request_payout(
            actor=user, balance=balance, amount_minor=10_000_000, idempotency_key=k, wallet=wallet
        )
        for k in "abcd"
    )
    queue = "/admin/bounties/payoutrequest/"
    assert staff_client.get(queue).status_code == 200
    staff_client.post(queue, {"action": "approve", "_selected_action": [a.pk, b.pk, d.pk]})
    redirect = staff_client.post(queue, {"action": "mark_settled", "_selected_action": [a.pk]})
    assert redirect.status_code == 302 and redirect["Location"].endswith(f"/{a.pk}/settle/")
    settle = redirect["Location"]
    assert staff_client.get(settle).status_code == 200
    bad = staff_client.post(settle, {"external_ref": "not a hash"})
    assert bad.status_code == 200 and b"errorlist" in bad.content
    assert staff_client.post(settle, {"external_ref": HASH}).status_code == 302
    staff_client.post(queue, {"action": "reject", "_selected_action": [c.pk]})
    staff_client.post(queue, {"action": "mark_failed", "_selected_action": [b.pk]})
    statuses = dict(PayoutRequest.objects.values_list("idempotency_key", "status"))
    assert statuses == {"a": "settled", "b": "failed", "c": "rejected", "d": "approved"}
    balance.refresh_from_db()
    assert balance.available_minor == 100_000_000 - 2 * 10_000_000  # a paid out, d still held
    assert TreasuryTransaction.objects.get(kind="payout_settle").external_ref == HASH
    assert AuditEvent.objects.filter(action="bounty.payout.settle", actor=staff).exists()
    assert AuditEvent.objects.filter(action="bounty.payout.reject", actor=staff).exists()


def test_escrow_force_unlock_and_refund_are_audited(staff_client, staff, user):
    funded_balance(user, amount=1_000)
    task = RoadmapTaskFactory(project=ProjectFactory(owner_user=user))
    escrow = services.fund_escrow(actor=user, task=task, asset="USD", amount_minor=400, idempotency_key="e")
    dispatcher.claim_task(actor=user, task=task)
    escrow.refresh_from_db()
    assert escrow.status == "locked"
    staff_client.post(
        "/admin/bounties/bountyescrow/", {"action": "force_unlock", "_selected_action": [escrow.pk]}
    )
    escrow.refresh_from_db()
    assert escrow.status == "funded"
    staff_client.post(
        "/admin/bounties/bountyescrow/", {"action": "force_refund", "_selected_action": [escrow.pk]}
    )
    escrow.refresh_from_db()
    assert escrow.status == "refunded"
    actions = set(AuditEvent.objects.filter(actor=staff).values_list("action", flat=True))
    assert {"bounty.escrow.force_unlock", "bounty.escrow.force_refund"} <= actions


def test_the_reconciliation_view_shows_no_drift(staff_client, user):
    funded_balance(user, amount=1_000)
    response = staff_client.get("/admin/bounties/treasurytransaction/reconciliation/")
    assert response.status_code == 200 and b"No drift" in response.content
    assert b"Drift (0)" in response.content and b'class="drift"' not in response.content


def test_the_forms_are_for_staff_only(user):
    client = _client(user)
    for url in (DEPOSIT, PROPOSE, "/admin/bounties/treasurytransaction/reconciliation/"):
        assert client.get(url).status_code == 302  # to the admin login
