"""Cron-scheduled agent tasks.

A task fires on its cron expression in its time zone (croniter); slots are at
least ``AGENT_SCHEDULE_MIN_INTERVAL_MINUTES`` apart. Beat calls
``dispatch_due_schedules`` every minute:

1. ``SELECT … FOR UPDATE SKIP LOCKED`` the enabled, due (``next_run_at ≤ now``),
   unleased tasks of active agents — concurrent dispatchers split the rows,
   never share one;
2. for each, in the same transaction: the slot is the old ``next_run_at``,
   ``next_run_at`` moves to the first fire time *after now* (a missed window
   runs once, not once per missed tick), the lease is set to now +
   ``max_runtime_s``, and one ``AgentRun`` is inserted for (task, slot) —
   unique, so a slot can never get two runs;
3. on commit, one Celery ``agents.execute_run`` per run.

When a run ends ``finish_scheduled_run`` clears the lease and records the
status; ``AGENT_SCHEDULE_MAX_FAILURES`` consecutive failures disable the task
and tell the owner through the inbox.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import User
from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, NotFound, ValidationFailed

from ..models import AgentRun, AgentScheduledTask, ChangeKind, RunTrigger, ScheduleStatus
from ..selectors import can_manage_agent
from .agents import check_timezone, lock_agent
from .changelog import log_change

_CRON_ERRORS = (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, ValueError, KeyError)
EDITABLE = (
    "name",
    "instruction",
    "cron",
    "timezone",
    "project",
    "conversation_id",
    "enabled",
    "max_runtime_s",
)


def next_fire(cron: str, tz: str, *, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, as an aware UTC datetime."""
    local = after.astimezone(ZoneInfo(tz))
    return croniter(cron, local).get_next(datetime).astimezone(ZoneInfo("UTC"))


def check_cron(cron: str, tz: str) -> str:
    cron = " ".join((cron or "").split())
    if not cron or len(cron) > 100 or len(cron.split()) != 5:
        raise ValidationFailed(
            "Use a 5-field cron expression (minute hour day month weekday).",
            field="cron",
            code="invalid_cron",
        )
    try:
        valid = croniter.is_valid(cron)
    except _CRON_ERRORS:
        valid = False
    if not valid:
        raise ValidationFailed(f"{cron!r} is not a valid cron expression.", field="cron", code="invalid_cron")
    minimum = timedelta(minutes=settings.AGENT_SCHEDULE_MIN_INTERVAL_MINUTES)
    try:
        it = croniter(cron, timezone.now().astimezone(ZoneInfo(tz)))
        fires = [it.get_next(datetime) for _ in range(48)]
    except _CRON_ERRORS as exc:
        raise ValidationFailed(f"{cron!r} never fires.", field="cron", code="invalid_cron") from exc
    if any((b - a) < minimum for a, b in zip(fires, fires[1:], strict=False)):
        raise ValidationFailed(
            f"Runs must be at least {settings.AGENT_SCHEDULE_MIN_INTERVAL_MINUTES} minutes apart.",
            field="cron",
            code="cron_too_frequent",
        )
    return cron


def _check_project(agent: User, project: Any) -> None:
    if project is None:
        return
    from apps.projects.permissions import Level, project_level

    ensure_same_network(agent.network_id, project)
    if project_level(agent, project) < Level.VIEW:
        raise ValidationFailed(
            "The agent has no access to this project.", field="project", code="agent_no_project_access"
        )


def check_conversation(agent: User, conversation_id: Any) -> None:
    """An output conversation must be one the agent is an active member of."""
    if conversation_id is None:
        return
    from django.apps import apps

    try:
        Member = apps.get_model("chat", "ConversationMember")
    except LookupError:  # pragma: no cover
        return
    pk = getattr(conversation_id, "pk", conversation_id)
    if not Member.objects.filter(conversation_id=pk, user_id=agent.pk, left_at__isnull=True).exists():
        raise ValidationFailed(
            "The agent is not a member of this conversation.", field="conversation", code="agent_not_member"
        )


def _require_manager(actor: Any, agent: User) -> None:
    if not can_manage_agent(actor, agent):
        raise NotFound()


def _snapshot(task: AgentScheduledTask) -> dict[str, Any]:
    return {name: getattr(task, "project_id" if name == "project" else name) for name in EDITABLE}


@transaction.atomic
def create_scheduled_task(
    *,
    actor: Any,
    agent: User,
    name: str,
    instruction: str,
    cron: str,
    timezone_name: str | None = None,
    project: Any = None,
    conversation_id: Any = None,
    enabled: bool = True,
    max_runtime_s: int = 300,
) -> AgentScheduledTask:
    _require_manager(actor, agent)
    agent = lock_agent(agent)
    if agent.agent_status == User.AgentStatus.DISABLED:
        raise InvalidState("A disabled agent cannot get schedules.")
    tz = check_timezone(timezone_name or agent.agent_timezone or "UTC", field="timezone")
    cron = check_cron(cron, tz)
    _check_project(agent, project)
    check_conversation(agent, conversation_id)
    name = (name or "").strip()[:200]
    if not name:
        raise ValidationFailed("Name the task.", field="name")
    if not (instruction or "").strip():
        raise ValidationFailed("Say what the agent should do.", field="instruction")
    if not isinstance(max_runtime_s, int) or not 10 <= max_runtime_s <= 3600:
        raise ValidationFailed("From 10 to 3600 seconds.", field="max_runtime_s")
    try:
        with transaction.atomic():
            task = AgentScheduledTask.objects.create(
                network_id=agent.network_id,
                agent=agent,
                name=name,
                instruction=instruction,
                cron=cron,
                timezone=tz,
                project=project,
                conversation_id=conversation_id,
                enabled=enabled,
                max_runtime_s=max_runtime_s,
                next_run_at=next_fire(cron, tz, after=timezone.now()) if enabled else None,
            )
    except IntegrityError as exc:
        raise ValidationFailed(
            "The agent has a task with this name.", field="name", code="name_taken"
        ) from exc
    log_change(
        agent=agent, actor=actor, change=ChangeKind.CONFIG, field=f"schedule:{task.pk}", after=_snapshot(task)
    )
    return task


@transaction.atomic
def update_scheduled_task(
    *, actor: Any, task: AgentScheduledTask, changes: dict[str, Any]
) -> AgentScheduledTask:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    _require_manager(actor, task.agent)
    agent = lock_agent(task.agent)
    task = AgentScheduledTask.objects.select_for_update().get(pk=task.pk)
    before = _snapshot(task)
    tz = check_timezone(changes.get("timezone", task.timezone), field="timezone")
    cron = check_cron(changes.get("cron", task.cron), tz)
    if "project" in changes:
        _check_project(agent, changes["project"])
        task.project = changes["project"]
    if "name" in changes:
        task.name = (changes["name"] or "").strip()[:200]
        if not task.name:
            raise ValidationFailed("Name the task.", field="name")
    if "instruction" in changes:
        if not (changes["instruction"] or "").strip():
            raise ValidationFailed("Say what the agent should do.", field="instruction")
        task.instruction = changes["instruction"]
    if "max_runtime_s" in changes:
        value = changes["max_runtime_s"]
        if not isinstance(value, int) or not 10 <= value <= 3600:
            raise ValidationFailed("From 10 to 3600 seconds.", field="max_runtime_s")
        task.max_runtime_s = value
    if "conversation_id" in changes:
        check_conversation(agent, changes["conversation_id"])
        task.conversation_id = changes["conversation_id"]
    reschedule = cron != task.cron or tz != task.timezone
    task.cron, task.timezone = cron, tz
    if "enabled" in changes and bool(changes["enabled"]) != task.enabled:
        task.enabled = bool(changes["enabled"])
        reschedule = True
        if task.enabled:
            task.consecutive_failures = 0
    if reschedule:
        task.next_run_at = next_fire(cron, tz, after=timezone.now()) if task.enabled else None
    try:
        with transaction.atomic():
            task.save()
    except IntegrityError as exc:
        raise ValidationFailed(
            "The agent has a task with this name.", field="name", code="name_taken"
        ) from exc
    after = _snapshot(task)
    if after != before:
        log_change(
            agent=agent,
            actor=actor,
            change=ChangeKind.CONFIG,
            field=f"schedule:{task.pk}",
            before=before,
            after=after,
        )
    return task


@transaction.atomic
def delete_scheduled_task(*, actor: Any, task: AgentScheduledTask) -> None:
    _require_manager(actor, task.agent)
    agent = lock_agent(task.agent)
    log_change(
        agent=agent,
        actor=actor,
        change=ChangeKind.CONFIG,
        field=f"schedule:{task.pk}",
        before=_snapshot(task),
    )
    task.delete()


@transaction.atomic
def run_task_now(*, actor: Any, task: AgentScheduledTask) -> AgentRun:
    """Run a task once now (API and admin), outside its cron slots; its schedule is unchanged."""
    from .runs import request_agent_run

    if not getattr(actor, "is_staff", False):
        _require_manager(actor, task.agent)
    if task.agent.agent_status != User.AgentStatus.ACTIVE:
        raise InvalidState(f"The agent is {task.agent.agent_status}.")
    return request_agent_run(
        agent=task.agent,
        trigger=RunTrigger.MANUAL,
        project=task.project,
        conversation=task.conversation_id,
        instruction=task.instruction,
        scheduled_task=task,
        requested_by=actor,
    )


def _enqueue(run_ids: list[Any]) -> None:
    from config.celery import app

    from ..tasks import execute_run

    # one producer (one broker connection) for the whole batch: about half the cost of .delay() per run
    with app.producer_or_acquire() as producer:
        for run_id in run_ids:
            execute_run.apply_async((str(run_id),), producer=producer)


def dispatch_due_schedules(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Claim due tasks and enqueue one run per slot (see the module docstring); returns runs created."""
    now = now or timezone.now()
    limit = limit or settings.AGENT_SCHEDULE_CLAIM_BATCH
    with transaction.atomic():
        tasks = list(
            AgentScheduledTask.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(enabled=True, next_run_at__lte=now, agent__agent_status=User.AgentStatus.ACTIVE)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .order_by("next_run_at")[:limit]
        )
        if not tasks:
            return 0
        runs = []
        for task in tasks:
            runs.append(
                AgentRun(
                    network_id=task.network_id,
                    agent_id=task.agent_id,
                    trigger=RunTrigger.SCHEDULED_TASK,
                    scheduled_task=task,
                    slot_at=task.next_run_at,
                    project_id=task.project_id,
                    conversation_id=task.conversation_id,
                    instruction=task.instruction,
                )
            )
            try:
                task.next_run_at = next_fire(task.cron, task.timezone, after=now)
            except _CRON_ERRORS:
                task.enabled, task.next_run_at = False, None
            task.lease_until = now + timedelta(seconds=task.max_runtime_s)
            task.last_status = ScheduleStatus.RUNNING
            task.updated_at = now
        AgentScheduledTask.objects.bulk_update(
            tasks, ["next_run_at", "lease_until", "last_status", "enabled", "updated_at"], batch_size=1000
        )
        AgentRun.objects.bulk_create(runs, ignore_conflicts=True, batch_size=1000)
        # ids are made in Python: the ones that exist now are the runs actually inserted
        # (a slot that already had a run keeps its first one)
        run_ids = list(AgentRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("pk", flat=True))
        transaction.on_commit(functools.partial(_enqueue, run_ids))
    return len(run_ids)


def finish_scheduled_run(*, run: AgentRun, succeeded: bool, error: str = "", skipped: bool = False) -> None:
    """Record a scheduled run's end on its task (lease cleared; failures counted, 5 → disabled + inbox)."""
    if run.scheduled_task_id is None:
        return
    now = timezone.now()
    status = (
        ScheduleStatus.SKIPPED if skipped else ScheduleStatus.SUCCESS if succeeded else ScheduleStatus.FAILED
    )
    with transaction.atomic():
        task = (
            AgentScheduledTask.objects.select_for_update()
            .filter(pk=run.scheduled_task_id)
            .select_related("agent")
            .first()
        )
        if task is None:
            return
        task.last_run_at = now
        task.last_status = status
        task.last_error = (error or "")[:2000]
        task.lease_until = None
        if run.trigger == RunTrigger.SCHEDULED_TASK:
            task.run_count = F("run_count") + 1
        if succeeded or skipped:
            task.consecutive_failures = 0
        else:
            task.consecutive_failures = F("consecutive_failures") + 1
        task.save(
            update_fields=[
                "last_run_at",
                "last_status",
                "last_error",
                "lease_until",
                "run_count",
                "consecutive_failures",
                "updated_at",
            ]
        )
        task.refresh_from_db(fields=["consecutive_failures", "run_count", "enabled"])
        if task.enabled and task.consecutive_failures >= settings.AGENT_SCHEDULE_MAX_FAILURES:
            AgentScheduledTask.objects.filter(pk=task.pk).update(
                enabled=False, next_run_at=None, updated_at=now
            )
            log_change(
                agent=task.agent, actor=None, change=ChangeKind.CONFIG, field=f"schedule:{task.pk}",
                before={"enabled": True}, after={"enabled": False},
                reason=f"{task.consecutive_failures} consecutive failures",
            )  # fmt: skip
            from .notify import tell_owners

            tell_owners(
                agent=task.agent,
                kind="system",
                target_type="agent_scheduled_task",
                target_id=task.pk,
                title=f"{task.agent.display_name or task.agent.handle}: scheduled task “{task.name}” was disabled",
                body=f"It failed {task.consecutive_failures} times in a row. Last error: {task.last_error[:300]}",
                data={"agent": str(task.agent_id), "scheduled_task": str(task.pk)},
            )
