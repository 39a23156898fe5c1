"""A scheduled run end to end on a real Celery worker process against the local LLM server.

Beat's job (``dispatch_due_schedules``) claims the due task in this process; the
run is queued on commit and executed by the worker, which calls the local
OpenAI-compatible server over HTTP and posts the reply in the agent's
conversation.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.agents.models import AgentRun, AgentScheduledTask
from apps.agents.services.schedules import dispatch_due_schedules
from apps.billing.models import AIUsage
from apps.chat.models import Message
from tests.chat.factories import direct
from tests.live import wait_for
from tests.llm_server import Reply

from .factories import AgentScheduledTaskFactory, agent_with_llm

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def llm_env(transactional_db, monkeypatch, llm_server):
    """The worker process reads the provider settings from its environment."""
    monkeypatch.setenv("AI_PROVIDER_ALLOW_PRIVATE_URLS", "True")
    monkeypatch.setenv("AI_PROVIDER_MAX_RETRIES", "0")
    return llm_server


@pytest.fixture
def worker(llm_env, celery_worker_process):
    return celery_worker_process


def test_a_scheduled_run_on_a_real_worker(worker, llm_server, user):
    agent = agent_with_llm(user, llm_server)
    conversation = direct(user, agent)
    task = AgentScheduledTaskFactory(
        agent=agent, instruction="Post the morning summary.", cron="0 9 * * *", conversation_id=conversation.pk,
        next_run_at=timezone.now() - timezone.timedelta(minutes=2),
    )  # fmt: skip
    llm_server.enqueue(Reply(content="Good morning: 3 tasks open, 1 in review.", usage=(120, 12, 0)))
    assert dispatch_due_schedules() == 1
    assert dispatch_due_schedules() == 0  # the slot is taken: a second beat tick claims nothing

    def finished():
        run = AgentRun.objects.filter(scheduled_task=task).first()
        return run if run and run.status not in ("queued", "running") else None

    run = wait_for(finished, timeout=30, message="the worker to run the scheduled task")
    assert run.status == "succeeded", (run.error_code, run.error)
    assert Message.objects.get(conversation=conversation, sender=agent).body.startswith("Good morning")
    assert AIUsage.objects.get(agent=agent).feature == "scheduled_task"
    task.refresh_from_db()
    assert (task.last_status, task.run_count, task.lease_until) == ("success", 1, None)
    assert task.next_run_at > timezone.now()
    assert llm_server.requests[0].messages[-1]["content"] == "Post the morning summary."
    assert AgentScheduledTask.objects.get(pk=task.pk).consecutive_failures == 0
