"""Cross-tenant matrix and policy-walk cases of the agents routes (registry: tests/matrix.py)."""

from __future__ import annotations

from tests.accounts.factories import AgentFactory
from tests.matrix import Ctx, OrgCtx, create, detail, org_reached
from tests.organizations.factories import OrganizationFactory
from tests.projects.factories import ProjectFactory

from .factories import AgentMemoryFactFactory, AgentProjectAccessFactory, AgentScheduledTaskFactory


def _agent(ctx: Ctx):
    return AgentFactory(network=ctx.network, agent_owner_user=ctx.user)


@create("agent-list")
def _agent_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    org = OrganizationFactory(network=other.network, owner=other.user)
    return {}, {"display_name": "x", "owner_organization": str(org.pk)}


@detail("agent-detail", methods=("get", "patch", "delete"), body={"bio": "changed"})
def _agent_detail(ctx: Ctx) -> dict:
    return {"pk": _agent(ctx).pk}


@detail("agent-pause", methods=("post",))
def _agent_pause(ctx: Ctx) -> dict:
    return {"pk": _agent(ctx).pk}


@detail("agent-resume", methods=("post",))
def _agent_resume(ctx: Ctx) -> dict:
    return {"pk": AgentFactory(network=ctx.network, agent_owner_user=ctx.user, agent_status="paused").pk}


@detail("agent-access-list", methods=("get", "post"), body={"role": "read"})
def _agent_access(ctx: Ctx) -> dict:
    return {"agent_pk": _agent(ctx).pk}


@create("agent-access-list")
def _agent_access_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {"agent_pk": _agent(own).pk}, {
        "project": str(ProjectFactory(owner_user=other.user).pk),
        "role": "read",
    }


@detail("agent-memory-facts", methods=("get", "post"), body={"content": "a fact"})
def _agent_memory(ctx: Ctx) -> dict:
    return {"agent_pk": _agent(ctx).pk}


@create("agent-memory-facts")
def _agent_memory_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {"agent_pk": _agent(own).pk}, {
        "content": "x",
        "project": str(ProjectFactory(owner_user=other.user).pk),
    }


@detail("agent-runs", methods=("get", "post"), body={"instruction": "hello"})
def _agent_runs(ctx: Ctx) -> dict:
    return {"agent_pk": _agent(ctx).pk}


@create("agent-runs")
def _agent_runs_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    return {"agent_pk": _agent(own).pk}, {
        "instruction": "x",
        "project": str(ProjectFactory(owner_user=other.user).pk),
    }


@detail(
    "agent-scheduled-tasks",
    methods=("get", "post"),
    body={"name": "t", "instruction": "i", "cron": "0 9 * * *"},
)
def _agent_tasks(ctx: Ctx) -> dict:
    return {"agent_pk": _agent(ctx).pk}


@create("agent-scheduled-tasks")
def _agent_tasks_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    body = {
        "name": "t",
        "instruction": "i",
        "cron": "0 9 * * *",
        "project": str(ProjectFactory(owner_user=other.user).pk),
    }
    return {"agent_pk": _agent(own).pk}, body


for _name in ("agent-decisions", "agent-change-log", "agent-conversation-summaries", "agent-guard-logs"):
    detail(_name, methods=("get",))(lambda ctx: {"agent_pk": _agent(ctx).pk})


@detail("agent-project-access-detail", methods=("get", "delete"))
def _access(ctx: Ctx) -> dict:
    agent = _agent(ctx)
    return {"pk": AgentProjectAccessFactory(agent=agent, project=ProjectFactory(owner_user=ctx.user)).pk}


@detail("agent-memory-fact-detail", methods=("get", "patch", "delete"), body={"importance": 5})
def _fact(ctx: Ctx) -> dict:
    return {"pk": AgentMemoryFactFactory(agent=_agent(ctx)).pk}


@detail("agent-scheduled-task-detail", methods=("get", "patch", "delete"), body={"instruction": "changed"})
def _task(ctx: Ctx) -> dict:
    return {"pk": AgentScheduledTaskFactory(agent=_agent(ctx)).pk}


@detail("agent-scheduled-task-run-now", methods=("post",))
def _task_run_now(ctx: Ctx) -> dict:
    return {"pk": AgentScheduledTaskFactory(agent=_agent(ctx)).pk}


# --- the organization policy walk: an organization's agent ------------------------------------


def _org_agent(ctx: OrgCtx, **kwargs):
    return AgentFactory(
        network=ctx.network, agent_owner_user=None, agent_owner_organization=ctx.org, **kwargs
    )


@org_reached(
    "agent-list",
    methods=("get", "post"),
    body=lambda ctx: {"display_name": "x", "owner_organization": str(ctx.org.pk)},
)
def _org_agents(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_agent(ctx).pk))
    return {}


@org_reached("agent-detail", methods=("get", "patch", "delete"), body={"bio": "changed"})
def _org_agent_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_agent(ctx).pk}


@org_reached("agent-pause", methods=("post",))
def _org_agent_pause(ctx: OrgCtx) -> dict:
    return {"pk": _org_agent(ctx).pk}


@org_reached("agent-resume", methods=("post",))
def _org_agent_resume(ctx: OrgCtx) -> dict:
    return {"pk": _org_agent(ctx, agent_status="paused").pk}


_NESTED = {
    "agent-access-list": ("get",),
    "agent-memory-facts": ("get", "post"),
    "agent-runs": ("get", "post"),
    "agent-scheduled-tasks": ("get", "post"),
    "agent-decisions": ("get",),
    "agent-change-log": ("get",),
    "agent-conversation-summaries": ("get",),
    "agent-guard-logs": ("get",),
}
_BODIES = {
    "agent-memory-facts": {"content": "a fact"},
    "agent-runs": {"instruction": "hello"},
    "agent-scheduled-tasks": {"name": "t", "instruction": "i", "cron": "0 9 * * *"},
}
for _name, _methods in _NESTED.items():
    org_reached(_name, methods=_methods, body=_BODIES.get(_name, {}))(
        lambda ctx: {"agent_pk": _org_agent(ctx).pk}
    )


@org_reached("agent-project-access-detail", methods=("get", "delete"))
def _org_access(ctx: OrgCtx) -> dict:
    from tests.projects.factories import OrgProjectFactory

    project = OrgProjectFactory(owner_organization=ctx.org, network=ctx.network)
    return {"pk": AgentProjectAccessFactory(agent=_org_agent(ctx), project=project).pk}


@org_reached("agent-memory-fact-detail", methods=("get", "patch", "delete"), body={"importance": 5})
def _org_fact(ctx: OrgCtx) -> dict:
    return {"pk": AgentMemoryFactFactory(agent=_org_agent(ctx)).pk}


@org_reached(
    "agent-scheduled-task-detail", methods=("get", "patch", "delete"), body={"instruction": "changed"}
)
def _org_task(ctx: OrgCtx) -> dict:
    return {"pk": AgentScheduledTaskFactory(agent=_org_agent(ctx)).pk}


@org_reached("agent-scheduled-task-run-now", methods=("post",))
def _org_task_run_now(ctx: OrgCtx) -> dict:
    return {"pk": AgentScheduledTaskFactory(agent=_org_agent(ctx)).pk}
