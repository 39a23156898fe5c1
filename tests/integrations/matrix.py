"""Cross-tenant matrix, organization-policy walk and admin-secrets cases of the integrations routes
(registry: tests/matrix.py). Detail cases use direct (http) connections to a literal public address, so
no case ever reaches a network."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.integrations.models import PendingIntegration, PendingToolExecution, ToolExecutionLog
from apps.integrations.services.execution import arguments_hash
from tests.accounts.factories import AgentFactory
from tests.matrix import Ctx, OrgCtx, admin_secret_rows, create, detail, exempt, org_reached
from tests.organizations.factories import OrganizationFactory

from .factories import AgentIntegrationFactory, HttpIntegrationFactory

BASE = "https://8.8.8.8/api"


def _connection(ctx, **kwargs):
    return HttpIntegrationFactory(user=ctx.user, network=ctx.network, config={"base_url": BASE}, **kwargs)


def _grant(ctx, *, agent=None, **kwargs):
    integration = _connection(ctx, **kwargs)
    agent = agent or AgentFactory(network=ctx.network, agent_owner_user=ctx.user, agent_autonomy="autonomous")
    return AgentIntegrationFactory(user_integration=integration, agent=agent, allowed_tools=["HTTP_GET"])


def _pending(ctx, **grant_kwargs) -> PendingToolExecution:
    grant = _grant(ctx, **grant_kwargs)
    args = {"path": "/x"}
    return PendingToolExecution.objects.create(
        network=ctx.network, agent=grant.agent, agent_integration=grant, approver=ctx.user, tool="HTTP_GET",
        arguments=args, arguments_hash=arguments_hash("HTTP_GET", args), risk="read",
        expires_at=timezone.now() + timedelta(hours=24), idempotency_key=str(timezone.now().timestamp()),
    )  # fmt: skip


def _log(ctx, **grant_kwargs) -> ToolExecutionLog:
    grant = _grant(ctx, **grant_kwargs)
    return ToolExecutionLog.objects.create(
        network=ctx.network, agent=grant.agent, user=ctx.user, user_integration=grant.user_integration,
        agent_integration=grant, tool="HTTP_GET", status="denied",
    )  # fmt: skip


exempt(
    "webhook-composio", "signed provider callback: no tenant input; the network comes from the connection row"
)


@create("integration-list")
def _connect_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    org = OrganizationFactory(network=other.network, owner=other.user)
    return {}, {"toolkit": "http", "base_url": BASE, "organization": str(org.pk)}


@detail("integration-detail", methods=("get", "delete"))
def _connection_detail(ctx: Ctx) -> dict:
    return {"pk": _connection(ctx).pk}


@detail("integration-refresh", methods=("post",))
def _connection_refresh(ctx: Ctx) -> dict:
    return {"pk": _connection(ctx).pk}


@create("pending-integration-list")
def _pending_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    org = OrganizationFactory(network=other.network, owner=other.user)
    return {}, {"toolkit": "github", "return_url": "https://app.example/x", "organization": str(org.pk)}


def _pending_connect(ctx) -> PendingIntegration:
    return PendingIntegration.objects.create(
        network=ctx.network, user=ctx.user, toolkit="github", state_hash=str(timezone.now().timestamp()).ljust(64, "0"),
        return_url="https://app.example/x", expires_at=timezone.now() + timedelta(minutes=15),
    )  # fmt: skip


@detail("pending-integration-detail", methods=("get",))
def _pending_detail(ctx: Ctx) -> dict:
    return {"pk": _pending_connect(ctx).pk}


@detail("agent-integrations", methods=("get", "post"), body={"allowed_tools": ["HTTP_GET"]})
def _agent_grants(ctx: Ctx) -> dict:
    return {"agent_pk": AgentFactory(network=ctx.network, agent_owner_user=ctx.user).pk}


@create("agent-integrations")
def _agent_grant_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    agent = AgentFactory(network=own.network, agent_owner_user=own.user)
    return {"agent_pk": agent.pk}, {
        "user_integration": str(_connection(other).pk),
        "allowed_tools": ["HTTP_GET"],
    }


@detail("agent-integration-detail", methods=("get", "patch", "delete"), body={"daily_limit": 5})
def _grant_detail(ctx: Ctx) -> dict:
    return {"pk": _grant(ctx).pk}


@detail("agent-tool-executions", methods=("get", "post"), body={"tool": "NOT_GRANTED"})
def _tool_executions(ctx: Ctx) -> dict:
    return {"agent_pk": AgentFactory(network=ctx.network, agent_owner_user=ctx.user).pk}


@create("agent-tool-executions")
def _tool_execution_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    # the foreign parent in the URL: 404 before the body is read
    return {"agent_pk": AgentFactory(network=other.network, agent_owner_user=other.user).pk}, {
        "tool": "HTTP_GET"
    }


@detail("pending-tool-execution-detail", methods=("get",))
def _pending_tool(ctx: Ctx) -> dict:
    return {"pk": _pending(ctx).pk}


for _verb in ("approve", "reject", "cancel"):
    detail(f"pending-tool-execution-{_verb}", methods=("post",))(lambda ctx: {"pk": _pending(ctx).pk})


@detail("tool-execution-log-detail", methods=("get",))
def _log_detail(ctx: Ctx) -> dict:
    return {"pk": _log(ctx).pk}


# --- the organization policy walk ------------------------------------------------------------


def _org_agent(ctx: OrgCtx):
    return AgentFactory(
        network=ctx.network,
        agent_owner_user=None,
        agent_owner_organization=ctx.org,
        agent_autonomy="autonomous",
    )


@org_reached(
    "integration-list",
    methods=("get", "post"),
    body=lambda ctx: {"toolkit": "http", "base_url": BASE, "organization": str(ctx.org.pk)},
)
def _org_connections(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_connection(ctx, organization=ctx.org).pk))
    return {}


@org_reached("integration-detail", methods=("get", "delete"))
def _org_connection(ctx: OrgCtx) -> dict:
    return {"pk": _connection(ctx, organization=ctx.org).pk}


@org_reached("integration-refresh", methods=("post",))
def _org_connection_refresh(ctx: OrgCtx) -> dict:
    return {"pk": _connection(ctx, organization=ctx.org).pk}


@org_reached(
    "pending-integration-list",
    methods=("post",),
    body=lambda ctx: {
        "toolkit": "github",
        "return_url": "https://app.example/x",
        "organization": str(ctx.org.pk),
    },
)
def _org_pending_create(ctx: OrgCtx) -> dict:
    return {}


@org_reached("pending-integration-detail", methods=("get",))
def _org_pending_detail(ctx: OrgCtx) -> dict:
    pending = _pending_connect(ctx)
    PendingIntegration.objects.filter(pk=pending.pk).update(organization=ctx.org)
    return {"pk": pending.pk}


@org_reached("agent-integrations", methods=("get", "post"), body={"allowed_tools": ["HTTP_GET"]})
def _org_agent_grants(ctx: OrgCtx) -> dict:
    agent = _org_agent(ctx)
    ctx.hidden.append(str(_grant(ctx, agent=agent).pk))
    return {"agent_pk": agent.pk}


@org_reached("agent-integration-detail", methods=("get", "patch", "delete"), body={"daily_limit": 5})
def _org_grant(ctx: OrgCtx) -> dict:
    return {"pk": _grant(ctx, agent=_org_agent(ctx)).pk}


@org_reached("agent-tool-executions", methods=("get", "post"), body={"tool": "NOT_GRANTED"})
def _org_tool_executions(ctx: OrgCtx) -> dict:
    return {"agent_pk": _org_agent(ctx).pk}


@org_reached("pending-tool-execution-list", methods=("get",))
def _org_pending_tools(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_pending(ctx, agent=_org_agent(ctx)).pk))
    return {}


@org_reached("pending-tool-execution-detail", methods=("get",))
def _org_pending_tool(ctx: OrgCtx) -> dict:
    return {"pk": _pending(ctx, agent=_org_agent(ctx)).pk}


for _verb in ("approve", "reject", "cancel"):
    org_reached(f"pending-tool-execution-{_verb}", methods=("post",))(
        lambda ctx: {"pk": _pending(ctx, agent=_org_agent(ctx)).pk}
    )


@org_reached("tool-execution-log-list", methods=("get",))
def _org_logs(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_log(ctx, agent=_org_agent(ctx)).pk))
    return {}


@org_reached("tool-execution-log-detail", methods=("get",))
def _org_log(ctx: OrgCtx) -> dict:
    return {"pk": _log(ctx, agent=_org_agent(ctx)).pk}


# --- rows with encrypted columns for the admin secrets walk ---------------------------------


@admin_secret_rows
def _connection_secrets(ctx) -> None:
    HttpIntegrationFactory(
        user=ctx.user,
        network=ctx.network,
        config={"base_url": BASE},
        credentials="saas-walk-secret-0123456789",
    )
