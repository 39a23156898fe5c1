"""Cross-tenant matrix cases of the brain routes (registry: tests/matrix.py)."""

from __future__ import annotations

from tests.matrix import Ctx, create, detail
from tests.projects.factories import ProjectFactory

from .factories import ProjectDecisionFactory, ProjectMilestoneFactory


def _project(ctx: Ctx):
    return ProjectFactory(owner_user=ctx.user)


@detail("project-decisions", methods=("get", "post"), body={"title": "Use PostgreSQL"})
def _decisions(ctx: Ctx) -> dict:
    return {"project_pk": _project(ctx).pk}


@create("project-decisions")
def _decision_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    # supersedes points at another network's decision: 400, nothing written
    foreign = ProjectDecisionFactory(project=ProjectFactory(owner_user=other.user), status="accepted")
    return {"project_pk": _project(own).pk}, {"title": "Replace it", "supersedes": str(foreign.pk)}


@detail("project-milestones", methods=("get", "post"), body={"title": "v1"})
def _milestones(ctx: Ctx) -> dict:
    return {"project_pk": _project(ctx).pk}


@create("project-milestones")
def _milestone_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    # the owner is a user of the other network: 400, nothing written
    return {"project_pk": _project(own).pk}, {"title": "v1", "owner": str(other.user.pk)}


@detail("project-decision-detail", methods=("get", "patch"), body={"title": "Renamed"})
def _decision(ctx: Ctx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_project(ctx), author=ctx.user).pk}


@detail("project-decision-accept", methods=("post",))
def _decision_accept(ctx: Ctx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_project(ctx)).pk}


@detail("project-decision-reject", methods=("post",))
def _decision_reject(ctx: Ctx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_project(ctx)).pk}


@detail("project-decision-deprecate", methods=("post",))
def _decision_deprecate(ctx: Ctx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_project(ctx), status="accepted").pk}


@detail("project-milestone-detail", methods=("get", "patch", "delete"), body={"description": "d"})
def _milestone(ctx: Ctx) -> dict:
    return {"pk": ProjectMilestoneFactory(project=_project(ctx)).pk}


@detail("project-milestone-complete", methods=("post",))
def _milestone_complete(ctx: Ctx) -> dict:
    return {"pk": ProjectMilestoneFactory(project=_project(ctx), status="active").pk}


# --- the organization policy walk (tests/matrix.py: org_reached) --------------------------

from tests.matrix import OrgCtx, org_reached  # noqa: E402
from tests.projects.factories import OrgProjectFactory  # noqa: E402


def _org_project(ctx: OrgCtx):
    return OrgProjectFactory(owner_organization=ctx.org, network=ctx.network)


@org_reached("project-decisions", methods=("get", "post"), body={"title": "Use PostgreSQL"})
def _org_decisions(ctx: OrgCtx) -> dict:
    return {"project_pk": _org_project(ctx).pk}


@org_reached("project-milestones", methods=("get", "post"), body={"title": "v1"})
def _org_milestones(ctx: OrgCtx) -> dict:
    return {"project_pk": _org_project(ctx).pk}


@org_reached("project-decision-detail", methods=("get", "patch"), body={"title": "Renamed"})
def _org_decision(ctx: OrgCtx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_org_project(ctx), author=ctx.user).pk}


@org_reached("project-decision-accept", methods=("post",))
def _org_decision_accept(ctx: OrgCtx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_org_project(ctx)).pk}


@org_reached("project-decision-reject", methods=("post",))
def _org_decision_reject(ctx: OrgCtx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_org_project(ctx)).pk}


@org_reached("project-decision-deprecate", methods=("post",))
def _org_decision_deprecate(ctx: OrgCtx) -> dict:
    return {"pk": ProjectDecisionFactory(project=_org_project(ctx), status="accepted").pk}


@org_reached("project-milestone-detail", methods=("get", "patch", "delete"), body={"description": "d"})
def _org_milestone(ctx: OrgCtx) -> dict:
    return {"pk": ProjectMilestoneFactory(project=_org_project(ctx)).pk}


@org_reached("project-milestone-complete", methods=("post",))
def _org_milestone_complete(ctx: OrgCtx) -> dict:
    return {"pk": ProjectMilestoneFactory(project=_org_project(ctx), status="active").pk}
