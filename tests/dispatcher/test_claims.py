"""Claims: one winner per task under concurrency, fenced leases, expiry and re-grant."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.exceptions import Conflict, InvalidState, NotFound, PermissionDenied
from apps.dispatcher import services
from apps.dispatcher.models import RoadmapTask, SignalLog, TaskClaim
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory

from .factories import RoadmapTaskFactory, contributor


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


@pytest.mark.django_db
def test_claiming_grants_a_lease_with_a_fresh_token_and_fence(user, project):
    task = RoadmapTaskFactory(project=project)
    claim = services.claim_task(actor=user, task=task)
    task.refresh_from_db()
    assert (task.status, claim.status, claim.fence, task.lease_seq) == ("claimed", "active", 1, 1)
    assert claim.lease_expires_at > timezone.now() + timedelta(seconds=task.lease_seconds - 5)


@pytest.mark.django_db
def test_a_claimed_task_is_not_claimed_again(user, project):
    task = RoadmapTaskFactory(project=project)
    services.claim_task(actor=user, task=task)
    agent = contributor(project)
    with pytest.raises(InvalidState):
        services.claim_task(actor=agent, task=task)
    assert TaskClaim.objects.filter(task=task).count() == 1


@pytest.mark.django_db
def test_a_task_waiting_on_dependencies_is_not_ready(user, project):
    task, dep = RoadmapTaskFactory(project=project), RoadmapTaskFactory(project=project)
    services.add_dependency(actor=user, task=task, depends_on=dep)
    with pytest.raises(InvalidState) as err:
        services.claim_task(actor=user, task=task)
    assert err.value.code == "not_ready"


@pytest.mark.django_db
def test_claimable_by_agents_refuses_people_and_strangers_see_nothing(user, project, network):
    task = RoadmapTaskFactory(project=project, claimable_by="agents")
    with pytest.raises(PermissionDenied):
        services.claim_task(actor=user, task=task)
    with pytest.raises(NotFound):
        services.claim_task(actor=UserFactory(network=network), task=task)  # private project: invisible
    assert services.claim_task(actor=contributor(project), task=task).status == "active"


@pytest.mark.django_db
def test_a_stale_token_is_refused_and_the_current_one_heartbeats(user, project):
    task = RoadmapTaskFactory(project=project)
    claim = services.claim_task(actor=user, task=task)
    with pytest.raises(Conflict) as err:
        services.heartbeat(actor=user, claim=claim, lease_token="00000000-0000-0000-0000-000000000000")
    assert err.value.code == "stale_lease"
    beat = services.heartbeat(actor=user, claim=claim, lease_token=claim.lease_token)
    assert beat.heartbeat_at is not None


@pytest.mark.django_db
def test_an_expired_lease_is_reaped_regranted_and_the_old_holder_cannot_submit(user, project):
    task = RoadmapTaskFactory(project=project)
    old = services.claim_task(actor=user, task=task)
    TaskClaim.objects.filter(pk=old.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as err:  # expired, even before the reaper ran
        services.submit_outcome(actor=user, claim=old, lease_token=old.lease_token, summary="late")
    assert err.value.code == "stale_lease"
    assert services.reap_expired_claims() == 1
    task.refresh_from_db()
    assert task.status == "open"
    assert SignalLog.objects.filter(kind="claim_expired", task=task).count() == 1
    new = services.claim_task(actor=user, task=task)
    assert new.fence == old.fence + 1
    with pytest.raises(Conflict):
        services.heartbeat(actor=user, claim=old, lease_token=old.lease_token)
    outcome = services.submit_outcome(actor=user, claim=new, lease_token=new.lease_token, summary="done")
    assert outcome.status == "passed"  # no checks: waits for a person's review


@pytest.mark.django_db
def test_a_token_of_an_older_fence_is_refused_after_a_regrant(user, project):
    task = RoadmapTaskFactory(project=project)
    claim = services.claim_task(actor=user, task=task)
    RoadmapTask.objects.filter(pk=task.pk).update(lease_seq=claim.fence + 1)  # someone re-granted the lease
    with pytest.raises(Conflict) as err:
        services.heartbeat(actor=user, claim=claim, lease_token=claim.lease_token)
    assert err.value.code == "stale_lease"


@pytest.mark.django_db
def test_submitting_twice_is_a_conflict(user, project):
    task = RoadmapTaskFactory(project=project)
    claim = services.claim_task(actor=user, task=task)
    services.submit_outcome(actor=user, claim=claim, lease_token=claim.lease_token, summary="one")
    with pytest.raises(Conflict):
        services.submit_outcome(actor=user, claim=claim, lease_token=claim.lease_token, summary="two")


@pytest.mark.django_db
def test_release_opens_the_task_and_records_a_signal(user, project):
    task = RoadmapTaskFactory(project=project)
    claim = services.claim_task(actor=user, task=task)
    services.release_claim(actor=user, claim=claim, lease_token=claim.lease_token)
    task.refresh_from_db()
    assert task.status == "open"
    assert SignalLog.objects.filter(kind="claim_released").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_connections_racing_for_one_task_only_one_wins(user, project):
    task = RoadmapTaskFactory(project=project)
    racers = [contributor(project) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def race(agent) -> None:
        barrier.wait()
        try:
            services.claim_task(actor=agent, task=task)
            results.append("won")
        except (InvalidState, Conflict) as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(agent,)) for agent in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results)[-1] == "won" and results.count("won") == 1
    assert TaskClaim.objects.filter(task=task).count() == 1


@pytest.mark.django_db(transaction=True)
def test_eight_claimers_over_a_thousand_ready_tasks_never_claim_one_twice(user, project):
    RoadmapTask.objects.bulk_create(
        [
            RoadmapTask(network=project.network, project=project, title=f"t{i}", status="open")
            for i in range(1000)
        ]
    )
    agents = [contributor(project, agent_max_concurrent_claims=1000) for _ in range(8)]
    barrier = threading.Barrier(8)
    claimed: list[int] = []

    def work(agent) -> None:
        barrier.wait()
        count = 0
        try:
            while True:
                try:
                    services.claim_next(actor=agent, project=project)
                except NotFound:
                    break
                count += 1
        finally:
            claimed.append(count)
            connection.close()

    threads = [threading.Thread(target=work, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sum(claimed) == 1000
    tasks = list(TaskClaim.objects.values_list("task_id", flat=True))
    assert len(tasks) == 1000 and len(set(tasks)) == 1000
    assert not RoadmapTask.objects.filter(status="open").exists()


@pytest.mark.django_db
def test_claim_next_is_one_statement_for_an_agent_and_picks_by_priority(user, project):
    from django.test.utils import CaptureQueriesContext

    agent = contributor(project, agent_max_concurrent_claims=5)
    RoadmapTaskFactory(project=project, priority=3)
    best = RoadmapTaskFactory(project=project, priority=0)
    RoadmapTaskFactory(project=project, priority=0, claimable_by="humans")
    with CaptureQueriesContext(connection) as queries:
        claim = services.claim_next(actor=agent, project=project)
    sql = [q["sql"] or "" for q in queries.captured_queries]
    sql = [s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE"))]  # a prepared statement logs no text
    # lock + grant + pick + (fresh) claim limit and funded escrows + move + claim row
    assert len(sql) == 1, sql
    assert claim.task_id == best.pk and claim.fence == 1 and claim.attempt_no == 1
    stored = TaskClaim.objects.get(pk=claim.pk)
    assert (stored.lease_token, stored.lease_expires_at, stored.status) == (
        claim.lease_token, claim.lease_expires_at, "active",
    )  # fmt: skip


@pytest.mark.django_db
def test_claim_next_refuses_past_the_claim_limit_and_writes_nothing(user, project):
    agent = contributor(project, agent_max_concurrent_claims=1)
    RoadmapTaskFactory(project=project), RoadmapTaskFactory(project=project)
    services.claim_next(actor=agent, project=project)
    with pytest.raises(InvalidState) as err:
        services.claim_next(actor=agent, project=project)
    assert err.value.code == "claim_limit"
    assert TaskClaim.objects.filter(claimant=agent).count() == 1
    assert RoadmapTask.objects.filter(project=project, status="open").count() == 1


@pytest.mark.django_db
def test_claim_next_for_a_viewer_says_why_and_a_paused_agent_is_refused(user, project, network):
    from apps.core.exceptions import PermissionDenied as Denied

    RoadmapTaskFactory(project=project)
    viewer = contributor(project)
    from apps.agents.models import AgentProjectAccess

    AgentProjectAccess.objects.filter(agent=viewer).update(role="read")
    with pytest.raises(Denied) as err:
        services.claim_next(actor=viewer, project=project)
    assert err.value.code == "not_claimable"
    AgentProjectAccess.objects.filter(agent=viewer).delete()
    with pytest.raises(NotFound):  # a private project without a grant: invisible
        services.claim_next(actor=viewer, project=project)
    assert not TaskClaim.objects.exists()
    paused = contributor(project)
    type(paused).objects.filter(pk=paused.pk).update(agent_status="paused")
    paused.refresh_from_db()
    with pytest.raises(InvalidState) as err:
        services.claim_next(actor=paused, project=project)
    assert err.value.code == "agent_not_active"


@pytest.mark.django_db
def test_the_stored_ready_flag_follows_dependencies_done_added_and_removed(user, project):
    task, dep = RoadmapTaskFactory(project=project), RoadmapTaskFactory(project=project)
    services.add_dependency(actor=user, task=task, depends_on=dep)
    task.refresh_from_db()
    assert not task.deps_done
    RoadmapTask.objects.filter(pk=dep.pk).update(status="done")  # any writer: a trigger keeps the flag
    task.refresh_from_db()
    assert task.deps_done
    RoadmapTask.objects.filter(pk=dep.pk).update(status="accepted")
    task.refresh_from_db()
    assert not task.deps_done
    services.remove_dependency(actor=user, task=task, depends_on_id=dep.pk)
    task.refresh_from_db()
    assert task.deps_done
    assert services.claim_task(actor=user, task=task).status == "active"


@pytest.mark.django_db
def test_the_claimant_load_counter_follows_every_writer_of_claims(user, project):
    """ClaimantLoad (the claim limit's one-row read) is kept by a trigger: services, bulk updates, deletes."""
    from apps.dispatcher.models import ClaimantLoad

    def live() -> int:
        row = ClaimantLoad.objects.filter(network=project.network, claimant=agent).first()
        return row.live if row else 0

    agent = contributor(project, agent_max_concurrent_claims=2)
    for _ in range(3):
        RoadmapTaskFactory(project=project)
    first = services.claim_next(actor=agent, project=project)
    second = services.claim_next(actor=agent, project=project)
    assert live() == 2
    with pytest.raises(InvalidState):
        services.claim_next(actor=agent, project=project)  # over the limit: rolled back, counter too
    assert live() == 2
    TaskClaim.objects.filter(pk=first.pk).update(status="submitted")  # still live
    assert live() == 2
    TaskClaim.objects.filter(pk=first.pk).update(status="expired")  # a bulk update, no service
    assert live() == 1
    third = services.claim_next(actor=agent, project=project)  # room again
    assert third.status == "active" and live() == 2
    TaskClaim.objects.filter(pk=second.pk).delete()
    assert live() == 1
    assert live() == TaskClaim.objects.filter(claimant=agent, status__in=("active", "submitted")).count()
