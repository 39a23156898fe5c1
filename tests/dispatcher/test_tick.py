"""The dispatcher tick: auto claims for the best eligible agent and queues its run; suggest
tells the maintainers; a locked state row is skipped; signals are consumed once."""

from __future__ import annotations

import pytest

from apps.agents.models import AgentRun
from apps.dispatcher import services
from apps.dispatcher.models import DispatcherState, SignalLog, TaskClaim
from apps.inbox.models import InboxItem
from tests.billing.factories import AIUsageFactory
from tests.projects.factories import ProjectFactory

from .factories import RoadmapTaskFactory, contributor

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


def test_auto_claims_for_the_capable_agent_and_requests_its_run(
    user, project, django_capture_on_commit_callbacks
):
    capable = contributor(project, agent_capabilities=["python", "sql"])
    contributor(project, agent_capabilities=["docs"])
    task = RoadmapTaskFactory(project=project, required_capabilities=["python"], claimable_by="agents")
    services.update_state(actor=user, project=project, changes={"mode": "auto"})
    services.signal(kind="task_opened", project=project, task=task)
    stats = services.tick_project(project.pk)
    assert stats["claimed"] == 1 and stats["signals"] >= 1
    claim = TaskClaim.objects.get(task=task)
    assert claim.claimant_id == capable.pk and claim.source == "dispatcher"
    run = AgentRun.objects.get(agent=capable)
    assert run.trigger == "dispatcher" and run.task_id == task.pk
    assert not SignalLog.objects.filter(project=project, status="pending").exists()
    assert services.tick_project(project.pk)["claimed"] == 0  # nothing left that is ready


def test_suggest_sends_the_maintainers_a_suggestion_and_claims_nothing(user, project,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    contributor(project)
    task = RoadmapTaskFactory(project=project)
    services.update_state(actor=user, project=project, changes={"mode": "suggest"})
    with django_capture_on_commit_callbacks(execute=True):
        assert services.tick_project(project.pk)["suggested"] == 1
    assert not TaskClaim.objects.filter(task=task).exists()
    assert InboxItem.objects.filter(recipient=user, kind="task_assigned").exists()


def test_off_ignores_signals_and_max_active_claims_caps_auto(user, project):
    agent = contributor(project, agent_max_concurrent_claims=10)
    for _ in range(3):
        RoadmapTaskFactory(project=project)
    services.signal(kind="manual_kick", project=project)
    services.state_for(project)
    assert services.tick_project(project.pk)["claimed"] == 0
    assert SignalLog.objects.get().status == "ignored"
    services.update_state(actor=user, project=project, changes={"mode": "auto", "max_active_claims": 2})
    assert services.tick_project(project.pk)["claimed"] == 2
    assert TaskClaim.objects.filter(claimant=agent).count() == 2
    assert DispatcherState.objects.get(project=project).stats["ticks"] == 1  # an off tick only consumes


def test_an_agent_at_its_claim_limit_is_skipped_and_the_next_eligible_one_gets_the_task(user, project):
    # the better-scoring agent (more capabilities matched) is at its own claim limit
    busy = contributor(project, agent_capabilities=["python", "sql"], agent_max_concurrent_claims=1)
    services.claim_task(actor=busy, task=RoadmapTaskFactory(project=project, claimable_by="agents"))
    other = contributor(project, agent_capabilities=["python"])
    task = RoadmapTaskFactory(project=project, required_capabilities=["python"], claimable_by="agents")
    services.update_state(actor=user, project=project, changes={"mode": "auto"})
    assert services.tick_project(project.pk)["claimed"] == 1
    assert TaskClaim.objects.get(task=task).claimant_id == other.pk
    assert TaskClaim.objects.filter(claimant=busy).count() == 1


def test_an_agent_over_its_ai_budget_is_skipped_and_the_next_eligible_one_gets_the_task(user, project):
    spent = contributor(project, agent_capabilities=["python", "sql"], agent_daily_budget_micros=1_000)
    AIUsageFactory(user=spent, agent=spent, cost_micros=1_000)  # today's spend reaches the budget
    other = contributor(project, agent_capabilities=["python"], agent_daily_budget_micros=1_000)
    AIUsageFactory(user=other, agent=other, cost_micros=999)
    task = RoadmapTaskFactory(project=project, required_capabilities=["python"])
    services.update_state(actor=user, project=project, changes={"mode": "auto"})
    assert not services.within_ai_budget(spent) and services.within_ai_budget(other)
    assert services.tick_project(project.pk)["claimed"] == 1
    assert TaskClaim.objects.get(task=task).claimant_id == other.pk
    assert not TaskClaim.objects.filter(claimant=spent).exists()


def test_an_agent_whose_plan_allowance_is_used_up_is_skipped(user, project, settings):
    from apps.billing.services.stripe_accounts import account_for

    broke = contributor(project, agent_capabilities=["python", "sql"])
    account = account_for(network_id=broke.network_id, owner_user_id=broke.pk)
    type(account).objects.filter(pk=account.pk).update(included_ai_micros=500, credit_balance_minor=0)
    AIUsageFactory(user=broke, agent=broke, cost_micros=600, billing_account_id=account.pk)
    other = contributor(project, agent_capabilities=["python"])
    task = RoadmapTaskFactory(project=project, required_capabilities=["python"])
    services.update_state(actor=user, project=project, changes={"mode": "auto"})
    assert services.tick_project(project.pk)["claimed"] == 1
    assert TaskClaim.objects.get(task=task).claimant_id == other.pk
