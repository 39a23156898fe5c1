"""Cross-tenant matrix and organization-policy cases of the dispatcher routes (tests/matrix.py)."""

from __future__ import annotations

from tests.matrix import Ctx, OrgCtx, create, detail, org_reached
from tests.projects.factories import OrgProjectFactory, ProjectFactory

from .factories import OutcomeCheckFactory, RoadmapTaskFactory

LEASE = {"lease_token": "00000000-0000-0000-0000-000000000000"}


def _project(ctx: Ctx):
    return ProjectFactory(owner_user=ctx.user)


def _org_project(ctx: OrgCtx):
    return OrgProjectFactory(owner_organization=ctx.org, network=ctx.network)


def _task(project, **fields):
    return RoadmapTaskFactory(project=project, **fields)


def _claimed(user, project):
    from apps.dispatcher import services

    task = _task(project)
    return services.claim_task(actor=user, task=task)


def _outcome(user, project, *, accepted: bool = False):
    from apps.dispatcher import services

    claim = _claimed(user, project)
    OutcomeCheckFactory(task=claim.task, kind="manual")
    outcome = services.submit_outcome(actor=user, claim=claim, lease_token=claim.lease_token, summary="done")
    if accepted:
        from apps.dispatcher.models import RoadmapTask, TaskOutcome

        TaskOutcome.objects.filter(pk=outcome.pk).update(status="accepted")
        RoadmapTask.objects.filter(pk=claim.task_id).update(
            status="accepted", accepted_at="2099-01-01T00:00Z"
        )
    return outcome


def _challenge(user, project, *, challenger=None):
    from apps.dispatcher.models import RoadmapChallenge

    outcome = _outcome(user, project, accepted=True)
    return RoadmapChallenge.objects.create(network=project.network, task=outcome.task, outcome=outcome,
                                           challenger=challenger or user, reason="incorrect")  # fmt: skip


def _member(ctx: OrgCtx):
    """Another member of ctx.org: the claimant whose work the owner reviews."""
    from tests.organizations.factories import OrganizationMemberFactory

    return OrganizationMemberFactory(organization=ctx.org, role="member").user


# --- cross-tenant -------------------------------------------------------------------------------


@detail("project-roadmap-tasks", methods=("get", "post"), body={"title": "A task"})
def _tasks(ctx: Ctx) -> dict:
    return {"project_pk": _project(ctx).pk}


@create("project-roadmap-tasks")
def _task_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    from tests.brain.factories import ProjectMilestoneFactory

    foreign = ProjectMilestoneFactory(project=ProjectFactory(owner_user=other.user))
    return {"project_pk": _project(own).pk}, {"title": "x", "milestone": str(foreign.pk)}


@detail("project-claim-next", methods=("post",))
def _claim_next(ctx: Ctx) -> dict:
    project = _project(ctx)
    _task(project)
    return {"project_pk": project.pk}


@detail("project-dispatcher", methods=("get", "patch"), body={"mode": "suggest"})
def _dispatcher(ctx: Ctx) -> dict:
    return {"project_pk": _project(ctx).pk}


@detail("project-dispatcher-kick", methods=("post",))
def _kick(ctx: Ctx) -> dict:
    return {"project_pk": _project(ctx).pk}


@detail("project-dispatcher-signals", methods=("get",))
def _signals(ctx: Ctx) -> dict:
    return {"project_pk": _project(ctx).pk}


@detail("roadmap-task-detail", methods=("get", "patch", "delete"), body={"title": "Renamed"})
def _task_detail(ctx: Ctx) -> dict:
    return {"pk": _task(_project(ctx), status="draft", created_by=ctx.user).pk}


@detail("roadmap-task-publish", methods=("post",))
def _publish(ctx: Ctx) -> dict:
    return {"pk": _task(_project(ctx), status="draft").pk}


@detail("roadmap-task-hold", methods=("post",))
def _hold(ctx: Ctx) -> dict:
    return {"pk": _task(_project(ctx)).pk}


@detail("roadmap-task-resume", methods=("post",))
def _resume(ctx: Ctx) -> dict:
    return {"pk": _task(_project(ctx), status="on_hold").pk}


@detail("roadmap-task-cancel", methods=("post",))
def _cancel(ctx: Ctx) -> dict:
    return {"pk": _task(_project(ctx)).pk}


@detail("roadmap-task-dependencies", methods=("get", "post"))
def _deps(ctx: Ctx) -> dict:
    return {"task_pk": _task(_project(ctx)).pk}


@create("roadmap-task-dependencies")
def _dep_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    foreign = _task(ProjectFactory(owner_user=other.user))
    return {"task_pk": _task(_project(own)).pk}, {"depends_on": str(foreign.pk)}


@detail("roadmap-task-dependency", methods=("delete",))
def _dep(ctx: Ctx) -> dict:
    from .factories import TaskDependencyFactory

    dep = TaskDependencyFactory(task=_task(_project(ctx)))
    return {"task_pk": dep.task_id, "dep_id": dep.depends_on_id}


@detail("roadmap-task-checks", methods=("get", "post"), body={"name": "ci", "kind": "manual"})
def _checks(ctx: Ctx) -> dict:
    return {"task_pk": _task(_project(ctx)).pk}


@detail("roadmap-task-claims", methods=("post",))
def _claims(ctx: Ctx) -> dict:
    return {"task_pk": _task(_project(ctx)).pk}


@detail("outcome-check-detail", methods=("get", "patch", "delete"), body={"required": False})
def _check(ctx: Ctx) -> dict:
    return {"pk": OutcomeCheckFactory(task=_task(_project(ctx))).pk}


@detail("task-claim-detail", methods=("get",))
def _claim(ctx: Ctx) -> dict:
    return {"pk": _claimed(ctx.user, _project(ctx)).pk}


@detail("task-claim-heartbeat", methods=("post",), body=LEASE)
def _heartbeat(ctx: Ctx) -> dict:
    return {"pk": _claimed(ctx.user, _project(ctx)).pk}


@detail("task-claim-release", methods=("post",), body=LEASE)
def _release(ctx: Ctx) -> dict:
    return {"pk": _claimed(ctx.user, _project(ctx)).pk}


@detail("task-claim-revoke", methods=("post",))
def _revoke(ctx: Ctx) -> dict:
    return {"pk": _claimed(ctx.user, _project(ctx)).pk}


@detail("task-claim-outcomes", methods=("post",), body={**LEASE, "summary": "done"})
def _submit(ctx: Ctx) -> dict:
    return {"claim_pk": _claimed(ctx.user, _project(ctx)).pk}


@detail("task-outcome-detail", methods=("get",))
def _outcome_detail(ctx: Ctx) -> dict:
    return {"pk": _outcome(ctx.user, _project(ctx)).pk}


@detail("task-outcome-review", methods=("post",), body={"accept": False})
def _review(ctx: Ctx) -> dict:
    return {"pk": _outcome(ctx.user, _project(ctx)).pk}


@detail("task-outcome-challenges", methods=("post",), body={"reason": "incorrect"})
def _challenges(ctx: Ctx) -> dict:
    return {"outcome_pk": _outcome(ctx.user, _project(ctx), accepted=True).pk}


@detail("verification-run-detail", methods=("get",))
def _run(ctx: Ctx) -> dict:
    return {"pk": _outcome(ctx.user, _project(ctx)).runs.get().pk}


@detail("verification-run-rerun", methods=("post",))
def _rerun(ctx: Ctx) -> dict:
    return {"pk": _outcome(ctx.user, _project(ctx)).runs.get().pk}


@detail("verification-run-decide", methods=("post",), body={"passed": True})
def _decide(ctx: Ctx) -> dict:
    return {"pk": _outcome(ctx.user, _project(ctx)).runs.get().pk}


@detail("roadmap-challenge-detail", methods=("get",))
def _challenge_detail(ctx: Ctx) -> dict:
    return {"pk": _challenge(ctx.user, _project(ctx)).pk}


@detail("roadmap-challenge-resolve", methods=("post",), body={"upheld": False})
def _resolve(ctx: Ctx) -> dict:
    return {"pk": _challenge(ctx.user, _project(ctx)).pk}


@detail("roadmap-challenge-withdraw", methods=("post",))
def _withdraw(ctx: Ctx) -> dict:
    return {"pk": _challenge(ctx.user, _project(ctx)).pk}


# --- the organization policy walk ---------------------------------------------------------------


def _org_list(name: str, key: str, make, *, methods=("get",), body=None) -> None:
    @org_reached(name, methods=methods, body=body)
    def _case(ctx: OrgCtx) -> dict:
        return {key: make(ctx)}


def _hidden_task(ctx: OrgCtx):
    task = _task(_org_project(ctx))
    ctx.hidden.append(str(task.pk))
    return task


_org_list("project-roadmap-tasks", "project_pk", lambda c: _hidden_task(c).project_id, methods=("get", "post"),
          body={"title": "x"})  # fmt: skip
_org_list("project-claim-next", "project_pk", lambda c: _task(_org_project(c)).project_id, methods=("post",))
_org_list("project-dispatcher", "project_pk", lambda c: _org_project(c).pk, methods=("get", "patch"),
          body={"mode": "suggest"})  # fmt: skip
_org_list("project-dispatcher-kick", "project_pk", lambda c: _org_project(c).pk, methods=("post",))
_org_list("project-dispatcher-signals", "project_pk", lambda c: _org_project(c).pk)
_org_list("roadmap-task-detail", "pk", lambda c: _task(_org_project(c), status="draft", created_by=c.user).pk,
          methods=("get", "patch", "delete"), body={"title": "Renamed"})  # fmt: skip
_org_list(
    "roadmap-task-publish", "pk", lambda c: _task(_org_project(c), status="draft").pk, methods=("post",)
)
_org_list("roadmap-task-hold", "pk", lambda c: _task(_org_project(c)).pk, methods=("post",))
_org_list(
    "roadmap-task-resume", "pk", lambda c: _task(_org_project(c), status="on_hold").pk, methods=("post",)
)
_org_list("roadmap-task-cancel", "pk", lambda c: _task(_org_project(c)).pk, methods=("post",))
_org_list(
    "roadmap-task-dependencies", "task_pk", lambda c: _task(_org_project(c)).pk, methods=("get", "post")
)
_org_list("roadmap-task-checks", "task_pk", lambda c: _task(_org_project(c)).pk, methods=("get", "post"),
          body={"name": "ci", "kind": "manual"})  # fmt: skip
_org_list("roadmap-task-claims", "task_pk", lambda c: _task(_org_project(c)).pk, methods=("post",))
_org_list("outcome-check-detail", "pk", lambda c: OutcomeCheckFactory(task=_task(_org_project(c))).pk,
          methods=("get", "patch", "delete"), body={"required": False})  # fmt: skip
_org_list("task-claim-detail", "pk", lambda c: _claimed(c.user, _org_project(c)).pk)
_org_list(
    "task-claim-heartbeat",
    "pk",
    lambda c: _claimed(c.user, _org_project(c)).pk,
    methods=("post",),
    body=LEASE,
)
_org_list(
    "task-claim-release", "pk", lambda c: _claimed(c.user, _org_project(c)).pk, methods=("post",), body=LEASE
)
_org_list("task-claim-revoke", "pk", lambda c: _claimed(c.user, _org_project(c)).pk, methods=("post",))
_org_list("task-claim-outcomes", "claim_pk", lambda c: _claimed(c.user, _org_project(c)).pk, methods=("post",),
          body={**LEASE, "summary": "x"})  # fmt: skip
_org_list("task-outcome-detail", "pk", lambda c: _outcome(c.user, _org_project(c)).pk)
_org_list("task-outcome-review", "pk", lambda c: _outcome(_member(c), _org_project(c)).pk, methods=("post",),
          body={"accept": False})  # fmt: skip
_org_list("task-outcome-challenges", "outcome_pk", lambda c: _outcome(_member(c), _org_project(c), accepted=True).pk,
          methods=("post",), body={"reason": "incorrect"})  # fmt: skip
_org_list("verification-run-detail", "pk", lambda c: _outcome(c.user, _org_project(c)).runs.get().pk)
_org_list("verification-run-rerun", "pk", lambda c: _outcome(c.user, _org_project(c)).runs.get().pk,
          methods=("post",))  # fmt: skip
_org_list("verification-run-decide", "pk", lambda c: _outcome(_member(c), _org_project(c)).runs.get().pk,
          methods=("post",), body={"passed": True})  # fmt: skip
_org_list("roadmap-challenge-detail", "pk", lambda c: _challenge(c.user, _org_project(c)).pk)
_org_list("roadmap-challenge-resolve", "pk", lambda c: _challenge(_member(c), _org_project(c), challenger=_member(c)).pk,
          methods=("post",),
          body={"upheld": False})  # fmt: skip
_org_list(
    "roadmap-challenge-withdraw",
    "pk",
    lambda c: _challenge(_member(c), _org_project(c), challenger=c.user).pk,
    methods=("post",),
)


@org_reached("task-claim-list", methods=("get",))
def _org_claims(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_claimed(ctx.user, _org_project(ctx)).pk))
    return {}


@org_reached("roadmap-challenge-list", methods=("get",))
def _org_challenges(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_challenge(ctx.user, _org_project(ctx)).pk))
    return {}


@org_reached("roadmap-task-dependency", methods=("delete",))
def _org_dep(ctx: OrgCtx) -> dict:
    from .factories import TaskDependencyFactory

    dep = TaskDependencyFactory(task=_task(_org_project(ctx)))
    return {"task_pk": dep.task_id, "dep_id": dep.depends_on_id}
