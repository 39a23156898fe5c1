"""Back office: every dispatcher and bounty changelist is query-bounded; the ledger is
read-only; staff actions go through the services (revoke a claim, force refund)."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.bounties import services
from apps.bounties.models import TreasuryTransaction
from apps.dispatcher import services as dispatcher
from apps.dispatcher.models import TaskClaim
from tests.accounts.factories import UserFactory
from tests.dispatcher.factories import RoadmapTaskFactory
from tests.projects.factories import ProjectFactory

from .factories import funded_balance

pytestmark = pytest.mark.django_db

PAGES = [
    "dispatcher/roadmaptask", "dispatcher/taskclaim", "dispatcher/taskoutcome", "dispatcher/roadmapchallenge",
    "dispatcher/dispatcherstate", "dispatcher/signallog", "bounties/treasurytransaction", "bounties/agentbalance",
    "bounties/bountyescrow", "bounties/bountywallet", "bounties/payoutrequest", "bounties/ledgeradjustment",
    "bounties/depositcheckout",
]  # fmt: skip


@pytest.fixture
def staff(network):
    return UserFactory(network=network, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def rows(user):
    project = ProjectFactory(owner_user=user)
    funded_balance(user, amount=10_000)
    for _ in range(5):
        task = RoadmapTaskFactory(project=project)
        services.fund_escrow(
            actor=user, task=task, asset="USD", amount_minor=100, idempotency_key=str(task.pk)
        )
        dispatcher.claim_task(actor=user, task=task)
    dispatcher.state_for(project)
    return project


@pytest.mark.parametrize("page", PAGES)
def test_changelists_are_query_bounded(staff_client, rows, page, django_assert_max_num_queries):
    staff_client.get(f"/admin/{page}/")
    with django_assert_max_num_queries(15):
        assert staff_client.get(f"/admin/{page}/").status_code == 200


def test_the_ledger_change_page_is_read_only(staff_client, rows):
    row = TreasuryTransaction.objects.first()
    url = f"/admin/bounties/treasurytransaction/{row.pk}/change/"
    assert staff_client.get(url).status_code == 200
    staff_client.post(url, {"amount_minor": 1})
    assert TreasuryTransaction.objects.get(pk=row.pk).amount_minor == row.amount_minor


def test_staff_revoke_a_claim_and_force_refund_its_escrow(staff_client, rows):
    claim = TaskClaim.objects.filter(status="active").first()
    response = staff_client.post(
        "/admin/dispatcher/taskclaim/", {"action": "revoke", "_selected_action": [claim.pk]}
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == "revoked"
    escrow = claim.task.escrows.get()
    assert escrow.status == "funded"
    staff_client.post(
        "/admin/bounties/bountyescrow/", {"action": "force_refund", "_selected_action": [escrow.pk]}
    )
    escrow.refresh_from_db()
    assert escrow.status == "refunded"
