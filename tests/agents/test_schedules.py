"""Scheduled tasks: cron validation in the agent's zone, SKIP LOCKED claims, one run per slot, failures."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from apps.agents.models import AgentRun, AgentScheduledTask
from apps.agents.services.schedules import dispatch_due_schedules, finish_scheduled_run, next_fire
from apps.inbox.models import InboxItem
from tests.accounts.factories import AgentFactory

from .factories import AgentScheduledTaskFactory

URL = "/api/v1/agents/{}/scheduled-tasks/"


@pytest.fixture
def agent(user):
    return AgentFactory(network=user.network, agent_owner_user=user, agent_timezone="Europe/Paris")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"cron": "* * * * *"}, "cron_too_frequent"),
        ({"cron": "0,2 * * * *"}, "cron_too_frequent"),
        ({"cron": "not a cron"}, "invalid_cron"),
        ({"cron": "61 * * * *"}, "invalid_cron"),
        ({"cron": "0 9 * * * *"}, "invalid_cron"),
        ({"timezone": "Nowhere/Land"}, "invalid_timezone"),
    ],
)
def test_bad_schedules_are_400(user_client, agent, body, code):
    payload = {"name": "daily", "instruction": "Summarise", "cron": "0 9 * * *", **body}
    response = user_client.post(URL.format(agent.pk), payload, format="json")
    assert response.status_code == 400 and response.json()["code"] == code, response.content
    assert not AgentScheduledTask.objects.exists()


@pytest.mark.django_db
def test_next_run_is_in_the_agents_timezone(user_client, agent):
    response = user_client.post(
        URL.format(agent.pk),
        {"name": "daily", "instruction": "Summarise", "cron": "0 9 * * *"},
        format="json",
    )
    assert response.status_code == 201, response.content
    task = AgentScheduledTask.objects.get()
    local = task.next_run_at.astimezone(ZoneInfo("Europe/Paris"))
    assert task.timezone == "Europe/Paris" and (local.hour, local.minute) == (9, 0)
    assert timezone.now() < task.next_run_at <= timezone.now() + timedelta(days=1)


def test_next_fire_handles_dst():
    # Europe/Paris springs forward on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after
    before = next_fire("0 9 * * *", "Europe/Paris", after=datetime(2026, 3, 28, 0, 0, tzinfo=UTC))
    after = next_fire("0 9 * * *", "Europe/Paris", after=datetime(2026, 3, 30, 0, 0, tzinfo=UTC))
    assert (before.hour, after.hour) == (8, 7)


@pytest.mark.django_db
def test_dispatch_claims_due_tasks_once_and_advances_them(agent):
    due = AgentScheduledTaskFactory.create_batch(3, agent=agent)
    AgentScheduledTaskFactory(agent=agent, next_run_at=timezone.now() + timedelta(hours=1))
    AgentScheduledTaskFactory(agent=agent, enabled=False)
    paused = AgentFactory(network=agent.network, agent_status="paused")
    AgentScheduledTaskFactory(agent=paused)
    assert dispatch_due_schedules() == 3
    assert dispatch_due_schedules() == 0
    runs = AgentRun.objects.filter(trigger="scheduled_task")
    assert sorted(r.scheduled_task_id for r in runs) == sorted(t.pk for t in due)
    for task in AgentScheduledTask.objects.filter(pk__in=[t.pk for t in due]):
        assert (
            task.next_run_at > timezone.now()
            and task.lease_until is not None
            and task.last_status == "running"
        )


@pytest.mark.django_db
def test_a_missed_window_runs_once(agent):
    task = AgentScheduledTaskFactory(
        agent=agent, cron="*/5 * * * *", next_run_at=timezone.now() - timedelta(days=3)
    )
    assert dispatch_due_schedules() == 1
    finish_scheduled_run(run=AgentRun.objects.get(), succeeded=True)
    assert dispatch_due_schedules() == 0
    task.refresh_from_db()
    assert timezone.now() < task.next_run_at <= timezone.now() + timedelta(minutes=5)


@pytest.mark.django_db
def test_a_leased_task_is_not_claimed_again(agent):
    AgentScheduledTaskFactory(agent=agent, lease_until=timezone.now() + timedelta(minutes=5))
    assert dispatch_due_schedules() == 0


@pytest.mark.django_db
def test_a_slot_never_gets_two_runs(agent):
    task = AgentScheduledTaskFactory(agent=agent)
    slot = task.next_run_at
    AgentRun.objects.create(
        network=agent.network, agent=agent, trigger="scheduled_task", scheduled_task=task, slot_at=slot
    )
    assert dispatch_due_schedules() == 0
    assert AgentRun.objects.filter(scheduled_task=task, slot_at=slot).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_split_the_rows(agent):
    AgentScheduledTaskFactory.create_batch(40, agent=agent)
    counts: list[int] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        try:
            counts.append(dispatch_due_schedules(limit=7))
            counts.append(dispatch_due_schedules(limit=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    while dispatch_due_schedules(limit=50):
        pass
    runs = list(AgentRun.objects.values_list("scheduled_task_id", "slot_at"))
    assert len(runs) == 40 and len(set(runs)) == 40


@pytest.mark.django_db
def test_five_failures_disable_the_task_and_tell_the_owner(agent, django_capture_on_commit_callbacks):
    task = AgentScheduledTaskFactory(agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            run = AgentRun.objects.create(
                network=agent.network, agent=agent, trigger="scheduled_task", scheduled_task=task,
                slot_at=timezone.now() + timedelta(minutes=i),
            )  # fmt: skip
            finish_scheduled_run(run=run, succeeded=False, error="provider down")
    task.refresh_from_db()
    assert not task.enabled and task.consecutive_failures == 5 and task.next_run_at is None
    item = InboxItem.objects.get(recipient=agent.agent_owner_user)
    assert item.target_id == task.pk and "disabled" in item.title


@pytest.mark.django_db
def test_a_success_resets_the_failure_count(agent):
    task = AgentScheduledTaskFactory(agent=agent, consecutive_failures=4)
    run = AgentRun.objects.create(
        network=agent.network,
        agent=agent,
        trigger="scheduled_task",
        scheduled_task=task,
        slot_at=timezone.now(),
    )
    finish_scheduled_run(run=run, succeeded=True)
    task.refresh_from_db()
    assert (
        task.consecutive_failures == 0 and task.enabled and task.run_count == 1 and task.lease_until is None
    )


@pytest.mark.django_db
def test_run_now_api(user_client, user, agent, llm_server, django_capture_on_commit_callbacks):
    from .factories import agent_with_llm

    agent = agent_with_llm(user, llm_server)
    task = AgentScheduledTaskFactory(agent=agent, next_run_at=timezone.now() + timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(f"/api/v1/agent-scheduled-tasks/{task.pk}/run-now/")
    assert response.status_code == 202, response.content
    run = AgentRun.objects.get(scheduled_task=task)
    assert (run.trigger, run.status) == ("manual", "succeeded")
    task.refresh_from_db()
    assert task.last_status == "success" and task.run_count == 0  # a manual run is not a cron slot
    history = user_client.get(f"/api/v1/agents/{agent.pk}/runs/", {"scheduled_task": str(task.pk)}).json()[
        "results"
    ]
    assert [r["id"] for r in history] == [str(run.pk)]


@pytest.mark.django_db
def test_run_now_of_a_paused_agent_is_409(user_client, agent):
    from apps.agents.services import pause_agent

    task = AgentScheduledTaskFactory(agent=agent)
    pause_agent(actor=agent.agent_owner_user, agent=agent)
    assert user_client.post(f"/api/v1/agent-scheduled-tasks/{task.pk}/run-now/").status_code == 409


@pytest.mark.django_db
def test_update_and_delete(user_client, agent):
    task = AgentScheduledTaskFactory(agent=agent)
    response = user_client.patch(
        f"/api/v1/agent-scheduled-tasks/{task.pk}/", {"cron": "*/10 * * * *"}, format="json"
    )
    assert response.status_code == 200 and response.json()["cron"] == "*/10 * * * *"
    assert (
        user_client.patch(
            f"/api/v1/agent-scheduled-tasks/{task.pk}/", {"cron": "* * * * *"}, format="json"
        ).status_code
        == 400
    )
    assert user_client.delete(f"/api/v1/agent-scheduled-tasks/{task.pk}/").status_code == 204
