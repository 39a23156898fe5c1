"""claim_next as one statement: the compiled grant, the fresh-snapshot claim limit, funded escrows."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.agents.models import AgentProjectAccess
from apps.bounties import services as bounties
from apps.bounties.models import BountyEscrow
from apps.core.exceptions import InvalidState, NotFound
from apps.dispatcher import services
from apps.dispatcher.models import ClaimantLoad, RoadmapTask, TaskClaim
from tests.bounties.factories import funded_balance
from tests.live import wait_for
from tests.projects.factories import ProjectFactory

from .factories import RoadmapTaskFactory, contributor


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


def test_the_grant_rule_is_compiled_once_from_live_access():
    first = services._agent_grant_sql()
    assert services._agent_grant_sql() is first  # once per process
    sql, constants = first
    assert "%(claimant)s" in sql and "%(project)s" in sql and "%(now)s" in sql
    assert sorted(constants.values()) == ["contribute", "maintain"]


@pytest.mark.django_db
def test_claim_next_follows_the_grant_expiry_role_and_project(user, project):
    RoadmapTaskFactory(project=project)
    agent = contributor(project)
    grant = AgentProjectAccess.objects.get(agent=agent)
    grant.expires_at = timezone.now() - timedelta(seconds=1)
    grant.save()
    with pytest.raises(NotFound):  # expired: a private project it cannot see
        services.claim_next(actor=agent, project=project)
    other = ProjectFactory(owner_user=user)
    AgentProjectAccess.objects.filter(pk=grant.pk).update(expires_at=None, project=other)
    with pytest.raises(NotFound):  # a grant on another project gives nothing here
        services.claim_next(actor=agent, project=project)
    assert not TaskClaim.objects.exists()
    AgentProjectAccess.objects.filter(pk=grant.pk).update(
        project=project, role="maintain", expires_at=timezone.now() + timedelta(hours=1)
    )
    claim = services.claim_next(actor=agent, project=project)
    assert claim.claimant is agent and claim.status == "active"
    assert TaskClaim.objects.get(pk=claim.pk).lease_token == claim.lease_token


@pytest.mark.django_db
def test_claim_next_at_the_limit_writes_nothing_and_a_human_claims_through_the_statement(user, project):
    agent = contributor(project, agent_max_concurrent_claims=1)
    first, second = (
        RoadmapTaskFactory(project=project, priority=0),
        RoadmapTaskFactory(project=project, priority=1),
    )
    assert services.claim_next(actor=agent, project=project).task_id == first.pk
    with pytest.raises(InvalidState) as err:
        services.claim_next(actor=agent, project=project)
    assert err.value.code == "claim_limit"
    assert RoadmapTask.objects.get(pk=second.pk).status == "open"
    assert ClaimantLoad.objects.get(claimant=agent).live == 1
    claim = services.claim_next(actor=user, project=project)  # the owner: level checked, then the statement
    assert claim.task_id == second.pk and claim.claimant_id == user.pk
    with pytest.raises(NotFound) as err:
        services.claim_next(actor=user, project=project)
    assert err.value.code == "no_ready_task"


@pytest.mark.django_db
def test_claim_next_inside_a_transaction_keeps_it_usable(user, project):
    agent = contributor(project, agent_max_concurrent_claims=1)
    RoadmapTaskFactory(project=project), RoadmapTaskFactory(project=project)
    with transaction.atomic():
        services.claim_next(actor=agent, project=project)
        with pytest.raises(InvalidState):
            services.claim_next(actor=agent, project=project)  # sees the claim of this transaction
        assert TaskClaim.objects.filter(claimant=agent).count() == 1


@pytest.mark.django_db
def test_claim_next_locks_the_funded_escrows_of_the_task_it_claims(user, project):
    task = RoadmapTaskFactory(project=project)
    funded_balance(user, amount=1_000)
    bounties.fund_escrow(actor=user, task=task, asset="USD", amount_minor=500, idempotency_key="cn")
    agent = contributor(project)
    claim = services.claim_next(actor=agent, project=project)
    escrow = BountyEscrow.objects.get()
    assert (claim.task_id, escrow.status, escrow.claim_id, escrow.beneficiary_id) == (
        task.pk, "locked", claim.pk, agent.pk,
    )  # fmt: skip


def _waits_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_claim_committed_while_claim_next_waited_counts_against_the_limit(user, project):
    """The statement waits for the claimant's row; what the holder committed meanwhile (a claim that
    fills the limit) is read with a fresh snapshot after the lock, so the waiting claim is refused."""
    agent = contributor(project, agent_max_concurrent_claims=1)
    held, other = (
        RoadmapTaskFactory(project=project, priority=0),
        RoadmapTaskFactory(project=project, priority=1),
    )
    outcome: dict[str, object] = {}
    pid: list[int] = []
    started = threading.Event()

    def claimer() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            started.set()
            outcome["claim"] = services.claim_next(actor=agent, project=project)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            outcome["error"] = exc
        finally:
            connection.close()

    with transaction.atomic():
        # hold the claimant's row, as a concurrent claim does
        assert list(type(agent).objects.select_for_update().filter(pk=agent.pk).values_list("pk", flat=True))
        thread = threading.Thread(target=claimer)
        thread.start()
        assert started.wait(30)
        wait_for(lambda: _waits_for_a_lock(pid[0]), timeout=30, message="the claim to wait for the lock")
        services._claim_one(actor=agent, task=RoadmapTask.objects.select_related("project").get(pk=held.pk),
                            level=None, source="manual")  # fmt: skip
    thread.join(60)
    assert isinstance(outcome.get("error"), InvalidState), outcome
    assert outcome["error"].code == "claim_limit"
    assert list(TaskClaim.objects.values_list("task_id", flat=True)) == [held.pk]
    assert RoadmapTask.objects.get(pk=other.pk).status == "open"
    assert ClaimantLoad.objects.get(claimant=agent).live == 1


@pytest.mark.django_db
def test_the_claim_statement_is_planned_once_per_connection(project):
    agent = contributor(project, agent_max_concurrent_claims=5)
    for _ in range(3):
        RoadmapTaskFactory(project=project)
    for _ in range(3):
        services.claim_next(actor=agent, project=project)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%dispatcher_claimant_live%%'"
        )
        assert cursor.fetchone()[0] == 1
