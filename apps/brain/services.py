"""Writes of the project brain.

Decisions: numbered per project (max + 1 under the project row lock);
proposed → accepted | rejected; accepted → superseded (when the decision that
supersedes it is accepted) | deprecated. Only a proposed decision is edited;
an accepted one changes only its status.

Milestones: planned ⇄ active, planned/active → cancelled (reopened to
planned), planned/active → completed by ``complete_milestone`` (open tasks
need ``force``), completed → active (reopen). ``record_task_progress`` is how
the dispatcher moves the task counters.

Permission levels are checked by the callers (``apps.projects.permissions``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.exceptions import Conflict, InvalidState, ValidationFailed
from apps.projects.models import Project
from apps.projects.services.infra import lock_active_project

from .models import DecisionStatus, MilestoneStatus, ProjectDecision, ProjectMilestone

_UNSET: Any = object()
DECISION_CONTENT = ("title", "context", "decision", "consequences", "tags", "links", "supersedes")
MILESTONE_MOVES: dict[str, frozenset[str]] = {
    MilestoneStatus.PLANNED: frozenset({MilestoneStatus.ACTIVE, MilestoneStatus.CANCELLED}),
    MilestoneStatus.ACTIVE: frozenset({MilestoneStatus.PLANNED, MilestoneStatus.CANCELLED}),
    MilestoneStatus.CANCELLED: frozenset({MilestoneStatus.PLANNED}),
    MilestoneStatus.COMPLETED: frozenset({MilestoneStatus.ACTIVE}),
}


def _check_supersedes(project: Project, supersedes: ProjectDecision | None, *, current: Any = None) -> None:
    if supersedes is None:
        return
    ensure_same_network(project.network_id, supersedes)
    if supersedes.project_id != project.pk:
        raise ValidationFailed(
            "A decision can only supersede a decision of the same project.", field="supersedes"
        )
    if current is not None and supersedes.pk == current:
        raise ValidationFailed("A decision cannot supersede itself.", field="supersedes")


def _clean_tags(tags: Any) -> list[str]:
    seen: list[str] = []
    for tag in tags or []:
        tag = str(tag).strip().lower()
        if tag and tag not in seen:
            seen.append(tag)
    return seen


# --- decisions ------------------------------------------------------------------------


@transaction.atomic
def propose_decision(
    *,
    actor: Any,
    project: Project,
    title: str,
    context: str = "",
    decision: str = "",
    consequences: str = "",
    tags: list[str] | None = None,
    links: dict[str, Any] | None = None,
    supersedes: ProjectDecision | None = None,
    agent_decision_id: Any = None,
) -> ProjectDecision:
    project = lock_active_project(project)
    _check_supersedes(project, supersedes)
    last = ProjectDecision.objects.filter(project=project).aggregate(last=Max("number"))["last"] or 0
    return ProjectDecision.objects.create(
        network_id=project.network_id,
        project=project,
        number=last + 1,
        title=title,
        context=context,
        decision=decision,
        consequences=consequences,
        tags=_clean_tags(tags),
        links=links or {},
        supersedes=supersedes,
        author=actor,
        agent_decision_id=agent_decision_id,
    )


@transaction.atomic
def update_decision(*, actor: Any, decision: ProjectDecision, changes: dict[str, Any]) -> ProjectDecision:
    """Edit a proposed decision's content (accepted ones are immutable except status).

    ``changes`` is a dict, not keyword arguments: one of the ADR's own fields is
    named ``decision``.
    """
    fields = dict(changes)
    unknown = set(fields) - set(DECISION_CONTENT)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    decision = (
        ProjectDecision.objects.select_for_update(of=("self",)).select_related("project").get(pk=decision.pk)
    )
    if decision.status != DecisionStatus.PROPOSED:
        raise InvalidState("Only a proposed decision can be edited.")
    if "supersedes" in fields:
        _check_supersedes(decision.project, fields["supersedes"], current=decision.pk)
    if "tags" in fields:
        fields["tags"] = _clean_tags(fields["tags"])
    if "links" in fields and fields["links"] is None:
        fields["links"] = {}
    for name, value in fields.items():
        setattr(decision, name, value)
    if fields:
        decision.save(update_fields=[*fields, "updated_at"])
    return decision


def _decide(decision: ProjectDecision, *, source: str, target: str, **extra: Any) -> bool:
    return (
        ProjectDecision.objects.filter(pk=decision.pk, status=source).update(
            status=target, updated_at=timezone.now(), **extra
        )
        == 1
    )


@transaction.atomic
def accept_decision(*, actor: Any, decision: ProjectDecision) -> ProjectDecision:
    """proposed → accepted; the decision it supersedes (accepted) becomes superseded."""
    now = timezone.now()
    if not _decide(
        decision,
        source=DecisionStatus.PROPOSED,
        target=DecisionStatus.ACCEPTED,
        decided_by=actor,
        decided_at=now,
    ):
        raise InvalidState("Only a proposed decision can be accepted.")
    decision.refresh_from_db()
    if decision.supersedes_id is not None:
        moved = ProjectDecision.objects.filter(
            pk=decision.supersedes_id, project_id=decision.project_id, status=DecisionStatus.ACCEPTED
        ).update(status=DecisionStatus.SUPERSEDED, updated_at=now)
        if not moved:
            raise InvalidState("The decision this one supersedes is no longer accepted.")
    return decision


@transaction.atomic
def reject_decision(*, actor: Any, decision: ProjectDecision) -> ProjectDecision:
    if not _decide(
        decision,
        source=DecisionStatus.PROPOSED,
        target=DecisionStatus.REJECTED,
        decided_by=actor,
        decided_at=timezone.now(),
    ):
        raise InvalidState("Only a proposed decision can be rejected.")
    decision.refresh_from_db()
    return decision


@transaction.atomic
def deprecate_decision(*, actor: Any, decision: ProjectDecision) -> ProjectDecision:
    if not _decide(decision, source=DecisionStatus.ACCEPTED, target=DecisionStatus.DEPRECATED):
        raise InvalidState("Only an accepted decision can be deprecated.")
    decision.refresh_from_db()
    return decision


# --- milestones ----------------------------------------------------------------------


def _check_dates(starts_on: date | None, due_on: date | None) -> None:
    if starts_on and due_on and due_on < starts_on:
        raise ValidationFailed("The due date cannot be before the start date.", field="due_on")


@transaction.atomic
def create_milestone(
    *,
    actor: Any,
    project: Project,
    title: str,
    description: str = "",
    status: str = MilestoneStatus.PLANNED,
    starts_on: date | None = None,
    due_on: date | None = None,
    position: int = 0,
    owner: Any = None,
) -> ProjectMilestone:
    project = lock_active_project(project)
    ensure_same_network(project.network_id, owner)
    if status not in (MilestoneStatus.PLANNED, MilestoneStatus.ACTIVE):
        raise ValidationFailed("A new milestone is planned or active.", field="status")
    _check_dates(starts_on, due_on)
    try:
        with transaction.atomic():
            return ProjectMilestone.objects.create(
                network_id=project.network_id,
                project=project,
                title=title,
                description=description,
                status=status,
                starts_on=starts_on,
                due_on=due_on,
                position=position,
                owner=owner,
            )
    except IntegrityError:
        raise ValidationFailed(
            "This project already has a milestone with this title.", field="title"
        ) from None


@transaction.atomic
def update_milestone(
    *,
    actor: Any,
    milestone: ProjectMilestone,
    title: str = _UNSET,
    description: str = _UNSET,
    status: str = _UNSET,
    starts_on: date | None = _UNSET,
    due_on: date | None = _UNSET,
    position: int = _UNSET,
    owner: Any = _UNSET,
) -> ProjectMilestone:
    milestone = ProjectMilestone.objects.select_for_update().get(pk=milestone.pk)
    changed: dict[str, Any] = {
        name: value
        for name, value in (
            ("title", title),
            ("description", description),
            ("starts_on", starts_on),
            ("due_on", due_on),
            ("position", position),
            ("owner", owner),
        )
        if value is not _UNSET
    }
    if "owner" in changed:
        ensure_same_network(milestone.network_id, changed["owner"])
    if status is not _UNSET and status != milestone.status:
        if status == MilestoneStatus.COMPLETED:
            raise ValidationFailed("Complete a milestone with its complete action.", field="status")
        if status not in MILESTONE_MOVES.get(milestone.status, frozenset()):
            raise InvalidState(f"A milestone cannot go from {milestone.status} to {status}.")
        changed["status"] = status
        if milestone.status == MilestoneStatus.COMPLETED:
            changed["completed_at"] = None
    _check_dates(changed.get("starts_on", milestone.starts_on), changed.get("due_on", milestone.due_on))
    for name, value in changed.items():
        setattr(milestone, name, value)
    if changed:
        try:
            with transaction.atomic():
                milestone.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:
            raise ValidationFailed(
                "This project already has a milestone with this title.", field="title"
            ) from None
    return milestone


@transaction.atomic
def delete_milestone(*, actor: Any, milestone: ProjectMilestone) -> None:
    ProjectMilestone.objects.filter(pk=milestone.pk).delete()


@transaction.atomic
def complete_milestone(*, actor: Any, milestone: ProjectMilestone, force: bool = False) -> ProjectMilestone:
    milestone = ProjectMilestone.objects.select_for_update().get(pk=milestone.pk)
    if milestone.status not in (MilestoneStatus.PLANNED, MilestoneStatus.ACTIVE):
        raise InvalidState(f"A {milestone.status} milestone cannot be completed.")
    if milestone.open_tasks and not force:
        raise Conflict(
            f"{milestone.open_tasks} task(s) are still open; pass force to complete anyway.",
            code="open_tasks",
            extra={"open_tasks": milestone.open_tasks},
        )
    ProjectMilestone.objects.filter(pk=milestone.pk, status=milestone.status).update(
        status=MilestoneStatus.COMPLETED, completed_at=timezone.now(), updated_at=timezone.now()
    )
    milestone.refresh_from_db()
    return milestone


def record_task_progress(*, milestone_id: Any, delta_total: int = 0, delta_done: int = 0) -> bool:
    """Move a milestone's task counters (the dispatcher calls it in its own transaction).

    ``delta_total``: +1 when a task joins the milestone, -1 when it leaves;
    ``delta_done``: +1 when a task reaches done, -1 when it is reopened.
    Counters never go below zero; ``core.recount`` repairs drift. Returns
    whether the milestone exists.
    """
    if not delta_total and not delta_done:
        return ProjectMilestone.objects.filter(pk=milestone_id).exists()
    return (
        ProjectMilestone.objects.filter(pk=milestone_id).update(
            task_total=Greatest(F("task_total") + delta_total, Value(0)),
            task_done=Greatest(F("task_done") + delta_done, Value(0)),
            updated_at=timezone.now(),
        )
        == 1
    )
