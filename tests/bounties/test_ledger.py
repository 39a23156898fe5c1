"""The ledger: balanced by construction, immutable in the database, no double spend."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.bounties import ledger, services
from apps.bounties.ledger import InsufficientFunds, Transfer, post_transfer
from apps.bounties.models import BountyEscrow, TreasuryTransaction
from apps.core.exceptions import InvalidState, ValidationFailed
from apps.dispatcher import services as dispatcher
from tests.accounts.factories import UserFactory
from tests.dispatcher.factories import RoadmapTaskFactory
from tests.projects.factories import ProjectFactory

from .factories import funded_balance


@pytest.fixture
def task(user):
    return RoadmapTaskFactory(project=ProjectFactory(owner_user=user))


@pytest.mark.django_db
def test_every_row_moves_one_amount_from_one_account_to_another_and_the_ledger_sums_to_zero(user, task):
    funded_balance(user, amount=10_000)
    services.fund_escrow(actor=user, task=task, asset="USD", amount_minor=4_000, idempotency_key="k1")
    report = ledger.reconcile()
    assert report == {"drift": [], "unbalanced_assets": {}, "ok": True}


@pytest.mark.django_db
def test_an_update_or_delete_of_a_ledger_row_is_refused_by_the_database(user):
    funded_balance(user)
    row = TreasuryTransaction.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        TreasuryTransaction.objects.filter(pk=row.pk).update(amount_minor=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM bounties_treasurytransaction")
    with pytest.raises(ValueError):
        row.save()
    assert TreasuryTransaction.objects.get().amount_minor == row.amount_minor


@pytest.mark.django_db
def test_a_transfer_of_a_shape_its_kind_does_not_allow_is_refused_by_a_check(user):
    balance = funded_balance(user)
    with pytest.raises(DatabaseError), transaction.atomic():
        TreasuryTransaction.objects.create(
            network_id=user.network_id, kind="deposit", asset="USD", amount_minor=5, from_balance=balance,
            to_system="fees", group_id=balance.pk, idempotency_key="bad-shape",
        )  # fmt: skip


@pytest.mark.django_db
def test_a_replayed_key_returns_the_first_rows_and_moves_nothing(user):
    balance = funded_balance(user, amount=1_000)
    first = post_transfer(Transfer("payout_reserve", 300, balance, "payout_clearing", "same-key"),
                          network_id=user.network_id, asset="USD")  # fmt: skip
    again = post_transfer(Transfer("payout_reserve", 300, balance, "payout_clearing", "same-key"),
                          network_id=user.network_id, asset="USD")  # fmt: skip
    balance.refresh_from_db()
    assert [r.pk for r in again] == [r.pk for r in first] and balance.available_minor == 700


@pytest.mark.django_db
def test_beyond_the_balance_is_insufficient_funds_and_nothing_is_written(user, task):
    funded_balance(user, amount=1_000)
    count = TreasuryTransaction.objects.count()
    with pytest.raises(InsufficientFunds):
        services.fund_escrow(actor=user, task=task, asset="USD", amount_minor=1_001, idempotency_key="k")
    assert TreasuryTransaction.objects.count() == count and not BountyEscrow.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "10"])
def test_amounts_that_are_not_positive_integers_are_refused(user, task, amount):
    funded_balance(user)
    with pytest.raises(ValidationFailed):
        services.fund_escrow(actor=user, task=task, asset="USD", amount_minor=amount, idempotency_key="k")


@pytest.mark.django_db
def test_an_escrow_in_another_asset_than_the_balance_is_refused(user):
    balance = funded_balance(user, asset="USD")
    with pytest.raises(ValidationFailed) as err:
        post_transfer(Transfer("payout_reserve", 5, balance, "payout_clearing", "x"), network_id=user.network_id,
                      asset="USDC-BASE")  # fmt: skip
    assert err.value.code == "asset_mismatch"


def _claimed_and_accepted(owner, task, claimant):
    claim = dispatcher.claim_task(actor=claimant, task=task)
    outcome = dispatcher.submit_outcome(
        actor=claimant, claim=claim, lease_token=claim.lease_token, summary="ok"
    )
    dispatcher.review_outcome(actor=owner, outcome=outcome, accept=True)
    return claim


@pytest.mark.django_db
def test_done_releases_held_minus_fee_to_the_claimant_and_the_fee_in_one_group(user, task, network):
    network.settings = {"fee_bps": 500}
    network.save()
    funded_balance(user, amount=10_000)
    escrow = services.fund_escrow(actor=user, task=task, asset="USD", amount_minor=1_999, idempotency_key="f")
    worker = UserFactory(network=network)
    from apps.projects.models import Project

    Project.objects.filter(pk=task.project_id).update(visibility="network")
    task.claimable_by = "anyone"
    task.save()
    worker.created_at = timezone.now() - timezone.timedelta(days=30)
    worker.save()
    _claimed_and_accepted(user, task, worker)
    escrow.refresh_from_db()
    assert (escrow.status, escrow.beneficiary_id) == ("locked", worker.pk)
    assert dispatcher.finalize_accepted() == 1
    escrow.refresh_from_db()
    rows = list(TreasuryTransaction.objects.filter(group_id=escrow.release_group).order_by("kind"))
    assert [(r.kind, r.amount_minor) for r in rows] == [("escrow_release", 1_900), ("platform_fee", 99)]
    assert escrow.status == "released" and escrow.held_minor == 0
    assert (
        services.balance_for(network_id=network.pk, asset="USD", owner_user=worker).available_minor == 1_900
    )
    assert ledger.reconcile()["ok"]


@pytest.mark.django_db(transaction=True)
def test_eight_threads_racing_to_release_one_escrow_release_it_once(user, task, network):
    funded_balance(user, amount=10_000)
    escrow = services.fund_escrow(actor=user, task=task, asset="USD", amount_minor=5_000, idempotency_key="f")
    claimant = UserFactory(network=network)
    BountyEscrow.objects.filter(pk=escrow.pk).update(status="locked", beneficiary=claimant)
    barrier = threading.Barrier(8)
    groups: list = []

    def release() -> None:
        barrier.wait()
        try:
            groups.append(services.release_escrow(escrow=escrow)[0].group_id)
        except InvalidState:
            groups.append(None)
        finally:
            connection.close()

    threads = [threading.Thread(target=release) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(set(groups)) == 1 and groups[0] is not None
    assert ledger.escrow_paid_count(escrow.pk) == 1
    paid = services.balance_for(network_id=network.pk, asset="USD", owner_user=claimant)
    assert paid.available_minor == 5_000 - 5_000 * escrow.fee_bps // 10_000
    assert ledger.reconcile()["ok"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_fundings_from_one_balance_never_overspend(user, network):
    funded_balance(user, amount=1_000)
    project = ProjectFactory(owner_user=user)
    tasks = [RoadmapTaskFactory(project=project) for _ in range(8)]
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def fund(task) -> None:
        barrier.wait()
        try:
            services.fund_escrow(
                actor=user, task=task, asset="USD", amount_minor=300, idempotency_key=str(task.pk)
            )
            outcomes.append("ok")
        except InsufficientFunds:
            outcomes.append("insufficient")
        finally:
            connection.close()

    threads = [threading.Thread(target=fund, args=(t,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count("ok") == 3 and outcomes.count("insufficient") == 5
    balance = services.balance_for(network_id=network.pk, asset="USD", owner_user=user)
    assert balance.available_minor == 100
    assert ledger.reconcile()["ok"]


@pytest.mark.django_db
def test_the_funder_refunds_only_while_funded(user, task, network):
    funded_balance(user, amount=1_000)
    escrow = services.fund_escrow(actor=user, task=task, asset="USD", amount_minor=400, idempotency_key="f")
    dispatcher.claim_task(actor=user, task=task)
    with pytest.raises(InvalidState):
        services.refund_escrow(actor=user, escrow=escrow)
    dispatcher.cancel_task(actor=user, task=task)  # cancelling unlocks and refunds
    escrow.refresh_from_db()
    assert escrow.status == "refunded"
    assert services.balance_for(network_id=network.pk, asset="USD", owner_user=user).available_minor == 1_000


@pytest.mark.django_db
def test_an_adjustment_approved_by_its_creator_is_refused(user, network):
    staff = UserFactory(network=network, is_staff=True)
    balance = funded_balance(user)
    from apps.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.post_adjustment(created_by=staff, approved_by=staff, debit="adjustments", credit=balance, asset="USD",
                                 amount_minor=5, key="a1", memo="fix")  # fmt: skip
    second = UserFactory(network=network, is_staff=True)
    row = services.post_adjustment(created_by=staff, approved_by=second, debit="adjustments", credit=balance,
                                   asset="USD", amount_minor=5, key="a1", memo="fix")  # fmt: skip
    assert row.kind == "adjustment" and ledger.reconcile()["ok"]
