"""The integrations REST API: agent keys run tools (200 result / 202 pending), people approve, keys never
approve; grants validate their tools and connection; every list runs a constant number of queries."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.integrations.models import AgentIntegration, PendingToolExecution, ToolExecutionLog
from tests.accounts.factories import AgentFactory, UserFactory
from tests.apikeys.factories import bearer, issue_key

from .factories import UserIntegrationFactory, github_grant

pytestmark = pytest.mark.django_db


def _agent_client(agent, scopes=("integrations:execute", "integrations:read")):
    client = APIClient()
    client.credentials(**bearer(issue_key(agent, scopes=list(scopes)).token))
    return client


def _tool_url(agent):
    return f"/api/v1/agents/{agent.pk}/tool-executions/"


def test_agent_key_runs_a_granted_read_tool_and_gets_the_result(user, saas):
    grant = github_grant(user, approval_policy="writes")
    response = _agent_client(grant.agent).post(
        _tool_url(grant.agent), {"tool": "GITHUB_LIST_ISSUES", "arguments": {}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "executed" and response.json()["result"]["number"] == 42


def test_agent_key_write_tool_waits_for_approval_then_the_owner_approves(
    user, user_client, saas, django_capture_on_commit_callbacks
):
    grant = github_grant(user, approval_policy="writes")
    client = _agent_client(grant.agent)
    response = client.post(
        _tool_url(grant.agent),
        {"tool": "GITHUB_CREATE_ISSUE", "arguments": {"title": "Bug"}, "justification": "reported in chat"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="call-1",
    )
    assert response.status_code == 202 and response.json()["status"] == "pending"
    pk, digest = response.json()["id"], response.json()["arguments_hash"]
    assert (
        client.post(f"/api/v1/pending-tool-executions/{pk}/approve/").status_code == 403
    )  # keys never approve
    listed = user_client.get("/api/v1/pending-tool-executions/", {"status": "pending"}).json()["results"]
    assert [row["id"] for row in listed] == [pk]
    with django_capture_on_commit_callbacks(execute=True):
        approved = user_client.post(
            f"/api/v1/pending-tool-executions/{pk}/approve/", {"arguments_hash": digest}, format="json"
        )
    assert approved.status_code == 200, approved.content
    assert PendingToolExecution.objects.get(pk=pk).status == "executed" and saas.executions() == 1
    again = user_client.post(f"/api/v1/pending-tool-executions/{pk}/approve/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    repeat = client.post(
        _tool_url(grant.agent), {"tool": "GITHUB_CREATE_ISSUE", "arguments": {"title": "Bug"}},
        format="json", HTTP_IDEMPOTENCY_KEY="call-1",
    )  # fmt: skip
    assert repeat.status_code == 200 and repeat.json()["id"] == pk and saas.executions() == 1


def test_an_ungranted_tool_is_403_and_logged(user, saas):
    grant = github_grant(user)
    response = _agent_client(grant.agent).post(
        _tool_url(grant.agent), {"tool": "GITHUB_DELETE_REPO"}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "tool_not_granted"
    assert ToolExecutionLog.objects.get().status == "denied"


def test_a_key_without_the_execute_scope_is_refused(user, saas):
    grant = github_grant(user)
    client = _agent_client(grant.agent, scopes=("integrations:read",))
    assert (
        client.post(_tool_url(grant.agent), {"tool": "GITHUB_LIST_ISSUES"}, format="json").status_code == 403
    )
    assert saas.executions() == 0


def test_another_agents_tool_route_is_404(user, saas):
    grant = github_grant(user)
    other = AgentFactory(network=user.network, agent_owner_user=user)
    response = _agent_client(other).post(
        _tool_url(grant.agent), {"tool": "GITHUB_LIST_ISSUES"}, format="json"
    )
    assert response.status_code == 404


def test_reject_and_cancel_over_the_api(user, user_client, saas):
    grant = github_grant(user, approval_policy="always")
    client = _agent_client(grant.agent)
    first = client.post(_tool_url(grant.agent), {"tool": "GITHUB_LIST_ISSUES"}, format="json").json()["id"]
    second = client.post(
        _tool_url(grant.agent), {"tool": "GITHUB_LIST_ISSUES", "idempotency_key": "2"}, format="json"
    ).json()["id"]
    assert (
        user_client.post(f"/api/v1/pending-tool-executions/{first}/reject/", {"note": "no"}).json()["status"]
        == "rejected"
    )
    assert client.post(f"/api/v1/pending-tool-executions/{second}/cancel/").json()["status"] == "cancelled"
    assert saas.executions() == 0


def test_grant_api_validates_tools_and_connection(user, user_client, saas):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    mine = UserIntegrationFactory(user=user)
    theirs = UserIntegrationFactory(user=UserFactory(network=user.network))
    url = f"/api/v1/agents/{agent.pk}/integrations/"
    bad_tool = user_client.post(
        url, {"user_integration": str(mine.pk), "allowed_tools": ["NOPE"]}, format="json"
    )
    assert bad_tool.status_code == 400 and bad_tool.json()["code"] == "unknown_tool"
    not_mine = user_client.post(
        url, {"user_integration": str(theirs.pk), "allowed_tools": ["GITHUB_LIST_ISSUES"]}, format="json"
    )
    assert not_mine.status_code == 400
    ok = user_client.post(
        url, {"user_integration": str(mine.pk), "allowed_tools": ["GITHUB_LIST_ISSUES"], "approval_policy": "always"},
        format="json",
    )  # fmt: skip
    assert ok.status_code == 201, ok.content
    dup = user_client.post(
        url, {"user_integration": str(mine.pk), "allowed_tools": ["GITHUB_LIST_ISSUES"]}, format="json"
    )
    assert dup.status_code == 400
    grant_id = ok.json()["id"]
    patched = user_client.patch(
        f"/api/v1/agent-integrations/{grant_id}/", {"daily_limit": 3, "enabled": False}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert user_client.delete(f"/api/v1/agent-integrations/{grant_id}/").status_code == 204
    assert not AgentIntegration.objects.exists()


def test_toolkits_list_includes_the_provider_and_http(user_client, saas):
    slugs = [row["slug"] for row in user_client.get("/api/v1/integrations/toolkits/").json()]
    assert slugs == ["github", "http"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/integrations/",
        "/api/v1/pending-tool-executions/",
        "/api/v1/tool-execution-logs/",
        "agent-integrations",
    ],
)
def test_lists_run_constant_queries(user, user_client, saas, url, django_assert_max_num_queries):
    grant = github_grant(user, approval_policy="always")
    agent = grant.agent
    if url == "agent-integrations":
        url = f"/api/v1/agents/{agent.pk}/integrations/"

    def add(n):
        for _ in range(n):
            g = github_grant(user, agent=agent, approval_policy="always")
            from apps.integrations.services import request_tool_call

            request_tool_call(agent=agent, tool="GITHUB_LIST_ISSUES", arguments={}, idempotency_key=str(g.pk))
            ToolExecutionLog.objects.create(
                network=user.network, agent=agent, user=user, tool="x", status="denied"
            )

    add(2)
    user_client.get(url)
    with django_assert_max_num_queries(12):
        first = len(user_client.get(url).json()["results"])
    add(12)
    with django_assert_max_num_queries(12):
        second = len(user_client.get(url).json()["results"])
    assert second > first
