"""``/api/v1/agents/``: create, configure (change log), pause, resume, disable (keys revoked)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from apps.accounts.models import User
from apps.agents.models import AgentChangeLog, AgentScheduledTask
from apps.apikeys.models import ApiKey
from apps.apikeys.services import create_api_key
from tests.accounts.factories import AgentFactory, UserFactory
from tests.billing.factories import AIProviderConfigFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

from .factories import AgentScheduledTaskFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/agents/"


def test_create_agent_owned_by_me(user_client, user):
    response = user_client.post(
        URL,
        {"display_name": "Scout", "model": "gpt-test", "timezone": "Europe/Paris", "autonomy": "suggest"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    agent = User.objects.get(pk=body["id"])
    assert agent.is_ai and agent.agent_owner_user == user and not agent.has_usable_password()
    assert (body["status"], body["timezone"], body["autonomy"]) == ("active", "Europe/Paris", "suggest")
    assert AgentChangeLog.objects.get(agent=agent).change == "created"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "agent_timezone"),
        ({"temperature": "3.5"}, "temperature"),
        ({"handle": "No Spaces"}, "handle"),
        ({"capabilities": ["ok", "NOT OK!"]}, "agent_capabilities"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
    ],
)
def test_bad_config_is_400(user_client, body, field):
    response = user_client.post(URL, {"display_name": "A", **body}, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not User.objects.filter(is_ai=True).exists()


def test_disallowed_model_is_400(user_client, user):
    AIProviderConfigFactory(owner_user=user, allowed_models=["gpt-test"])
    response = user_client.post(URL, {"display_name": "A", "model": "gpt-huge"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "model_not_allowed"


def test_someone_elses_provider_config_is_400(user_client, network):
    theirs = AIProviderConfigFactory(owner_user=UserFactory(network=network))
    response = user_client.post(URL, {"display_name": "A", "provider_config": str(theirs.pk)}, format="json")
    assert response.status_code == 400 and "agent_provider_config" in response.json()


def test_org_agents_need_agents_manage(user_client, user, network):
    org = OrganizationFactory(network=network)
    member = OrganizationMemberFactory(organization=org, user=user, role="member")
    body = {"display_name": "Org bot", "owner_organization": str(org.pk)}
    assert user_client.post(URL, body, format="json").status_code == 403
    member.role = "admin"
    member.save()
    response = user_client.post(URL, body, format="json")
    assert response.status_code == 201 and response.json()["owner_organization"] == str(org.pk)


def test_update_logs_each_change_in_the_same_transaction(user_client, user):
    agent = AgentFactory(
        network=user.network, agent_owner_user=user, agent_system_prompt="old", agent_model="a"
    )
    response = user_client.patch(
        f"{URL}{agent.pk}/", {"system_prompt": "new prompt", "model": "b", "reason": "tuning"}, format="json"
    )
    assert response.status_code == 200, response.content
    rows = {r.field: r for r in AgentChangeLog.objects.filter(agent=agent)}
    assert (
        rows["agent_system_prompt"].change == "prompt" and rows["agent_system_prompt"].after == "new prompt"
    )
    assert rows["agent_model"].change == "model" and rows["agent_model"].before == "a"
    assert rows["agent_model"].reason == "tuning" and rows["agent_model"].actor_id == user.pk


def test_change_log_secrets_are_hints():
    from apps.agents.services.changelog import log_change

    agent = AgentFactory()
    row = log_change(
        agent=agent, actor=None, change="config", field="webhook_token", after="sk-live-1234567890abcdef"
    )
    assert row.after == "sk-…cdef"
    row = log_change(
        agent=agent,
        actor=None,
        change="prompt",
        field="agent_system_prompt",
        after="use ghp_abcdefghijklmnopqrstuvwxyz123",
    )
    assert "abcdefghijklmnop" not in row.after


def test_change_log_cannot_be_edited_or_deleted_even_in_sql():
    agent = AgentFactory()
    from apps.agents.services.changelog import log_change

    row = log_change(agent=agent, actor=None, change="config", field="x", after=1)
    for statement in ("UPDATE agents_agentchangelog SET reason = 'x'", "DELETE FROM agents_agentchangelog"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AgentChangeLog.objects.get(pk=row.pk).reason == ""


def test_pause_resume_and_illegal_moves(user_client, user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    assert user_client.post(f"{URL}{agent.pk}/pause/").json()["status"] == "paused"
    response = user_client.post(f"{URL}{agent.pk}/pause/")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"
    assert user_client.post(f"{URL}{agent.pk}/resume/").json()["status"] == "active"
    statuses = list(
        AgentChangeLog.objects.filter(agent=agent, change="status").values_list("after", flat=True)
    )
    assert sorted(statuses) == ["active", "paused"]


def test_disable_revokes_keys_and_stops_schedules(user_client, user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    issued = create_api_key(actor=user, name="bot", scopes=["agent-default"], agent=agent)
    task = AgentScheduledTaskFactory(agent=agent)
    assert user_client.delete(f"{URL}{agent.pk}/").status_code == 204
    agent.refresh_from_db()
    task.refresh_from_db()
    assert agent.agent_status == "disabled" and not task.enabled
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is not None
    assert AgentChangeLog.objects.filter(agent=agent, change="key").count() == 1
    assert user_client.post(f"{URL}{agent.pk}/resume/").status_code == 409
    assert user_client.patch(f"{URL}{agent.pk}/", {"bio": "x"}, format="json").status_code == 409


def test_agents_of_others_are_404(user_client, network):
    theirs = AgentFactory(network=network)
    assert user_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert user_client.post(f"{URL}{theirs.pk}/pause/").status_code == 404
    assert user_client.get(URL).json()["results"] == []


def test_agents_cannot_create_agents(user):
    from apps.agents.services import create_agent
    from apps.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        create_agent(actor=AgentFactory(network=user.network), display_name="child")


def test_list_runs_constant_queries(user_client, user, django_assert_max_num_queries):
    AgentFactory.create_batch(2, network=user.network, agent_owner_user=user)
    with django_assert_max_num_queries(12):
        assert len(user_client.get(URL).json()["results"]) == 2
    AgentFactory.create_batch(15, network=user.network, agent_owner_user=user)
    with django_assert_max_num_queries(12):
        assert len(user_client.get(URL).json()["results"]) == 17


def test_nested_lists_run_constant_queries(user_client, user, django_assert_max_num_queries):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    from apps.agents.services.changelog import log_change

    for _ in range(3):
        log_change(agent=agent, actor=user, change="config", field="x", after=1)
    with django_assert_max_num_queries(12):
        assert len(user_client.get(f"{URL}{agent.pk}/change-log/").json()["results"]) == 3
    for _ in range(20):
        log_change(agent=agent, actor=user, change="config", field="x", after=1)
    with django_assert_max_num_queries(12):
        assert len(user_client.get(f"{URL}{agent.pk}/change-log/").json()["results"]) == 23
    assert AgentScheduledTask.objects.count() == 0
