"""The agents back office: today's cost and last run on the list, staff actions through the services,
the change log read-only even for a superuser."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.agents.models import AgentChangeLog, AgentRun
from apps.agents.services import pause_agent
from tests.accounts.factories import AgentFactory, UserFactory
from tests.billing.factories import AIUsageFactory

from .factories import AgentScheduledTaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(other_network):
    client = Client()
    client.force_login(UserFactory(network=other_network, is_staff=True, is_superuser=True))
    return client


def test_agent_list_shows_todays_cost_and_is_query_bounded(staff_client, user, django_assert_max_num_queries):
    agents = [AgentFactory(network=user.network, agent_owner_user=user) for _ in range(4)]
    AIUsageFactory(user=agents[0], agent=agents[0], cost_micros=1234)
    AIUsageFactory(user=agents[0], agent=agents[0], cost_micros=766)
    staff_client.get("/admin/agents/agent/")
    with django_assert_max_num_queries(12):
        response = staff_client.get("/admin/agents/agent/")
    assert response.status_code == 200
    assert "2000" in response.content.decode()


def test_pause_action_goes_through_the_service_and_logs_the_change(staff_client, user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    response = staff_client.post(
        "/admin/agents/agent/", {"action": "pause", "_selected_action": [str(agent.pk)]}
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.agent_status == User.AgentStatus.PAUSED
    assert AgentChangeLog.objects.filter(agent=agent, change="status").exists()


def test_run_now_action_queues_a_run(staff_client, user, llm_server):
    task = AgentScheduledTaskFactory(agent=AgentFactory(network=user.network, agent_owner_user=user))
    staff_client.post(
        "/admin/agents/agentscheduledtask/", {"action": "run_now", "_selected_action": [str(task.pk)]}
    )
    assert AgentRun.objects.filter(scheduled_task=task).count() == 1


def test_change_log_cannot_be_edited_or_deleted_in_the_admin(staff_client, user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    pause_agent(actor=user, agent=agent, reason="test")
    entry = AgentChangeLog.objects.filter(agent=agent).first()
    url = f"/admin/agents/agentchangelog/{entry.pk}/"
    assert staff_client.get(url + "change/").status_code == 200  # view only
    staff_client.post(url + "change/", {"reason": "rewritten"})
    assert staff_client.post(url + "delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.reason != "rewritten"
