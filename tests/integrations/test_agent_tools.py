"""Agents' tool-calls path through integrations: run_agent offers the granted tools, and a call the model makes
runs through the grant (autonomous) or waits for the connection owner (approval autonomy)."""

from __future__ import annotations

import pytest

from apps.agents.models import AgentRun
from apps.agents.services import request_agent_run, run_agent
from apps.inbox.models import InboxItem
from apps.integrations.models import PendingToolExecution, ToolExecutionLog
from tests.agents.factories import agent_with_llm
from tests.llm_server import Reply

from .factories import AgentIntegrationFactory, UserIntegrationFactory

pytestmark = pytest.mark.django_db


def _run(agent, instruction="File the bug"):
    run = request_agent_run(agent=agent, trigger="api", instruction=instruction)
    return run_agent(run=run) or AgentRun.objects.get(pk=run.pk)


def _grant(user, agent, **kwargs):
    return AgentIntegrationFactory(user_integration=UserIntegrationFactory(user=user), agent=agent, **kwargs)


def test_granted_tools_are_offered_to_the_model(user, llm_server, saas):
    agent = agent_with_llm(user, llm_server)
    _grant(user, agent, allowed_tools=["GITHUB_CREATE_ISSUE"])
    llm_server.enqueue(Reply(content="ok"))
    _run(agent)
    names = [t["function"]["name"] for t in llm_server.requests[0].json["tools"]]
    assert names == ["remember", "GITHUB_CREATE_ISSUE"]
    assert llm_server.requests[0].json["tools"][1]["function"]["parameters"]["properties"]["title"]


def test_an_autonomous_agent_runs_a_granted_tool_after_the_run_commits(
    user, llm_server, saas, django_capture_on_commit_callbacks
):
    agent = agent_with_llm(user, llm_server, agent_autonomy="autonomous")
    _grant(user, agent, approval_policy="never")
    llm_server.enqueue(
        Reply(content="Filed.", tool_calls=[{"name": "GITHUB_CREATE_ISSUE", "arguments": {"title": "Bug"}}])
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = _run(agent)
    execution = PendingToolExecution.objects.get(agent=agent)
    assert execution.status == "executed" and execution.context == {"run": str(run.pk)}
    assert run.proposed_tool_calls[0]["integration"]["execution"] == str(execution.pk)
    assert saas.calls["GITHUB_CREATE_ISSUE"] == 1
    assert ToolExecutionLog.objects.get(agent=agent).status == "success"


def test_approval_autonomy_sends_the_call_to_the_connection_owner(
    user, llm_server, saas, django_capture_on_commit_callbacks
):
    agent = agent_with_llm(user, llm_server, agent_autonomy="approval")
    _grant(user, agent, approval_policy="never")
    llm_server.enqueue(
        Reply(content="", tool_calls=[{"name": "GITHUB_CREATE_ISSUE", "arguments": {"title": "Bug"}}])
    )
    with django_capture_on_commit_callbacks(execute=True):
        _run(agent, instruction="Deploy")
    execution = PendingToolExecution.objects.get(agent=agent)
    assert execution.status == "pending" and saas.executions() == 0
    item = InboxItem.objects.get(recipient=user, kind="tool_approval")
    assert item.requires_action and item.target_id == execution.pk
