"""Dispatcher writes: tasks, the dependency DAG, fenced claims, outcomes, verification,
challenges, finalisation and the tick.

Task states: draft → open → claimed → in_review → accepted → done;
claimed → open (release, expiry, revoke); in_review → claimed (checks failed,
attempts left) or → open; accepted → open (challenge upheld); open/claimed ⇄
on_hold; unfinished → cancelled. Every move is a conditional UPDATE
(``WHERE status = expected``); a raced or illegal one is 409 ``invalid_state``.

Fencing: every lease grant (a claim, a fresh lease after failed checks) bumps
``RoadmapTask.lease_seq`` in the same conditional update and stores the new
value on the claim as ``fence`` with a new random ``lease_token``. A write by
a holder (heartbeat, release, submit) locks the claim and needs: the claim
active, its token, an unexpired lease, and ``fence == task.lease_seq`` — a
holder whose lease expired, was revoked or re-granted is refused with 409
``stale_lease``, even if its old token leaked into a retry.

Claims never double: the grant is a conditional open → claimed on one row (the
loser of a race updates 0 rows) and the partial unique index on live claims
is the backstop (``already_claimed``). ``claim_next`` and the tick pick
candidate rows with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers spread
over the ready tasks instead of queueing on one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.core.api import ensure_same_network
from apps.core.db import statement_cursor
from apps.core.exceptions import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from apps.core.ids import uuid7
from apps.core.masking import redact
from apps.projects.permissions import Level, project_level

from .models import (
    ChallengeStatus,
    CheckKind,
    ClaimableBy,
    ClaimantLoad,
    ClaimSource,
    ClaimStatus,
    DispatcherMode,
    DispatcherState,
    OutcomeCheck,
    OutcomeStatus,
    RoadmapChallenge,
    RoadmapTask,
    Runner,
    RunStatus,
    SignalKind,
    SignalLog,
    SignalStatus,
    TaskClaim,
    TaskDependency,
    TaskOutcome,
    TaskStatus,
    VerificationRun,
)

logger = logging.getLogger(__name__)

HUMAN_MAX_ACTIVE_CLAIMS = 5
AGENT_DEFAULT_MAX_CLAIMS = 2
MAX_OPEN_CHALLENGES = 3
RUN_ERROR_RETRIES = 2
ANYONE_MIN_ACCOUNT_AGE = timedelta(days=7)
UNFINISHED = (TaskStatus.DRAFT, TaskStatus.OPEN, TaskStatus.CLAIMED, TaskStatus.IN_REVIEW, TaskStatus.ON_HOLD)


class StaleLease(Conflict):
    default_code = "stale_lease"
    default_message = "This lease is no longer yours (expired, revoked or re-granted)."


# --- permissions ------------------------------------------------------------------------------


def require_level(user: Any, project: Any, needed: Level) -> Level:
    level = project_level(user, project)
    if level < Level.VIEW:
        raise NotFound()
    if level < needed:
        raise PermissionDenied(
            f"You need the {needed.name.lower()} level on this project for this.",
            code="project_permission_denied",
        )
    return level


def _is_maintainer(user: Any, project: Any) -> bool:
    return bool(getattr(user, "is_staff", False)) or project_level(user, project) >= Level.MAINTAIN


def _maintainers(project: Any) -> list[User]:
    if project.owner_user_id is not None:
        return [project.owner_user]
    return list(
        User.objects.filter(
            organization_memberships__organization_id=project.owner_organization_id,
            organization_memberships__status="active",
            organization_memberships__role__in=("owner", "admin"),
        )
    )


def _move_task(task: RoadmapTask, *, to: str, allowed: tuple[str, ...], **fields: Any) -> RoadmapTask:
    now = timezone.now()
    moved = RoadmapTask.objects.filter(pk=task.pk, status__in=allowed).update(
        status=to, updated_at=now, **fields
    )
    if not moved:
        task.refresh_from_db(fields=["status"])
        raise InvalidState(f"A {task.status} task cannot become {to}.")
    task.refresh_from_db()
    return task


def signal(*, kind: str, project: Any, task: Any = None, actor: Any = None, payload: dict | None = None,
           dedupe_key: str | None = None) -> SignalLog | None:  # fmt: skip
    """Record a wake-up (deduplicated by key) and kick the project's tick on commit."""
    network_id = project.network_id
    try:
        with transaction.atomic():
            row = SignalLog.objects.create(
                network_id=network_id, project=project, kind=kind, task=task, actor=actor if getattr(actor, "pk", None)
                else None, payload=payload or {}, dedupe_key=dedupe_key,
            )  # fmt: skip
    except IntegrityError:
        return None
    state = (
        DispatcherState.objects.filter(project=project).exclude(mode=DispatcherMode.OFF).only("pk").first()
    )
    if state is not None:
        from .tasks import tick_project

        project_id = str(project.pk)
        transaction.on_commit(lambda: tick_project.delay(project_id))
    return row


# --- tasks ------------------------------------------------------------------------------------

TASK_FIELDS = (
    "title", "description", "kind", "priority", "labels", "required_capabilities", "claimable_by", "estimate_points",
    "due_at", "lease_seconds", "max_attempts", "requires_human_review", "challenge_window_hours", "position",
    "milestone", "parent",
)  # fmt: skip


def _check_refs(project: Any, fields: dict[str, Any]) -> None:
    milestone = fields.get("milestone")
    if milestone is not None:
        ensure_same_network(project.network_id, milestone)
        if milestone.project_id != project.pk:
            raise ValidationFailed("The milestone is of another project.", field="milestone")
    parent = fields.get("parent")
    if parent is not None:
        ensure_same_network(project.network_id, parent)
        if parent.project_id != project.pk:
            raise ValidationFailed("The parent task is of another project.", field="parent")


@transaction.atomic
def create_task(*, actor: Any, project: Any, publish: bool = False, **fields: Any) -> RoadmapTask:
    require_level(actor, project, Level.CONTRIBUTE)
    unknown = set(fields) - set(TASK_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {sorted(unknown)}.")
    _check_refs(project, fields)
    task = RoadmapTask.objects.create(
        network_id=project.network_id, project=project, created_by=actor,
        status=TaskStatus.OPEN if publish else TaskStatus.DRAFT, **fields,
    )  # fmt: skip
    if task.milestone_id:
        from apps.brain.services import record_task_progress

        record_task_progress(milestone_id=task.milestone_id, delta_total=1)
    if publish:
        signal(kind=SignalKind.TASK_OPENED, project=project, task=task, actor=actor)
    return task


@transaction.atomic
def update_task(*, actor: Any, task: RoadmapTask, changes: dict[str, Any]) -> RoadmapTask:
    require_level(actor, task.project, Level.CONTRIBUTE)
    task = RoadmapTask.objects.select_for_update().get(pk=task.pk)
    if task.status not in (TaskStatus.DRAFT, TaskStatus.OPEN, TaskStatus.ON_HOLD):
        raise InvalidState(f"A {task.status} task is not edited.")
    if task.created_by_id != actor.pk and not _is_maintainer(actor, task.project):
        raise PermissionDenied("Only the author or a maintainer edits a task.")
    _check_refs(task.project, changes)
    old_milestone = task.milestone_id
    for name, value in changes.items():
        if name not in TASK_FIELDS:
            raise ValidationFailed(f"{name} is not editable.", field=name)
        setattr(task, name, value)
    task.save()
    if "milestone" in changes and old_milestone != task.milestone_id:
        from apps.brain.services import record_task_progress

        if old_milestone:
            record_task_progress(milestone_id=old_milestone, delta_total=-1)
        if task.milestone_id:
            record_task_progress(milestone_id=task.milestone_id, delta_total=1)
    return task


@transaction.atomic
def delete_task(*, actor: Any, task: RoadmapTask) -> None:
    require_level(actor, task.project, Level.CONTRIBUTE)
    if task.created_by_id != actor.pk and not _is_maintainer(actor, task.project):
        raise PermissionDenied()
    if task.status != TaskStatus.DRAFT or task.escrows.exists():
        raise InvalidState("Only a draft task without bounties is deleted.")
    if task.milestone_id:
        from apps.brain.services import record_task_progress

        record_task_progress(milestone_id=task.milestone_id, delta_total=-1)
    task.delete()


def publish_task(*, actor: Any, task: RoadmapTask) -> RoadmapTask:
    require_level(actor, task.project, Level.CONTRIBUTE)
    with transaction.atomic():
        task = _move_task(task, to=TaskStatus.OPEN, allowed=(TaskStatus.DRAFT,))
        signal(kind=SignalKind.TASK_OPENED, project=task.project, task=task, actor=actor)
    return task


def hold_task(*, actor: Any, task: RoadmapTask) -> RoadmapTask:
    require_level(actor, task.project, Level.MAINTAIN)
    return _move_task(task, to=TaskStatus.ON_HOLD, allowed=(TaskStatus.OPEN, TaskStatus.CLAIMED))


def resume_task(*, actor: Any, task: RoadmapTask) -> RoadmapTask:
    require_level(actor, task.project, Level.MAINTAIN)
    with transaction.atomic():
        live = task.claims.filter(status=ClaimStatus.ACTIVE).exists()
        task = _move_task(
            task, to=TaskStatus.CLAIMED if live else TaskStatus.OPEN, allowed=(TaskStatus.ON_HOLD,)
        )
        if not live:
            signal(kind=SignalKind.TASK_REOPENED, project=task.project, task=task, actor=actor)
    return task


@transaction.atomic
def cancel_task(*, actor: Any, task: RoadmapTask) -> RoadmapTask:
    require_level(actor, task.project, Level.MAINTAIN)
    task = RoadmapTask.objects.select_for_update().get(pk=task.pk)
    task = _move_task(task, to=TaskStatus.CANCELLED, allowed=UNFINISHED)
    now = timezone.now()
    TaskClaim.objects.filter(task=task, status__in=(ClaimStatus.ACTIVE, ClaimStatus.SUBMITTED)).update(
        status=ClaimStatus.REVOKED, ended_at=now, end_reason="task cancelled", updated_at=now
    )
    from apps.bounties import services as bounties

    bounties.unlock_task_escrows(task=task)
    bounties.refund_task_escrows(task=task, reason="task cancelled")
    return task


# --- dependencies -----------------------------------------------------------------------------

_REACHES = """
WITH RECURSIVE reach(id) AS (
    SELECT depends_on_id FROM dispatcher_taskdependency WHERE task_id = %s
    UNION
    SELECT d.depends_on_id FROM dispatcher_taskdependency d JOIN reach r ON d.task_id = r.id
)
SELECT 1 FROM reach WHERE id = %s LIMIT 1
"""


def depends_transitively(task_id: Any, on_id: Any) -> bool:
    """Whether ``task_id`` already (transitively) depends on ``on_id`` — one recursive CTE."""
    with connection.cursor() as cursor:
        cursor.execute(_REACHES, [task_id, on_id])
        return cursor.fetchone() is not None


@transaction.atomic
def add_dependency(*, actor: Any, task: RoadmapTask, depends_on: RoadmapTask) -> TaskDependency:
    require_level(actor, task.project, Level.CONTRIBUTE)
    ensure_same_network(task.network_id, depends_on)
    if depends_on.project_id != task.project_id:
        raise ValidationFailed("A task depends only on tasks of its project.", field="depends_on")
    if depends_on.pk == task.pk:
        raise ValidationFailed("A task cannot depend on itself.", field="depends_on", code="dependency_cycle")
    # one writer of a project's graph at a time: two edges added concurrently cannot close a cycle
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 42))", [f"dag:{task.project_id}"])
    if depends_transitively(depends_on.pk, task.pk):
        raise ValidationFailed(
            "This dependency would make a cycle.", field="depends_on", code="dependency_cycle"
        )
    dep, _ = TaskDependency.objects.get_or_create(
        network_id=task.network_id, task=task, depends_on=depends_on
    )
    return dep


@transaction.atomic
def remove_dependency(*, actor: Any, task: RoadmapTask, depends_on_id: Any) -> None:
    require_level(actor, task.project, Level.CONTRIBUTE)
    deleted, _ = TaskDependency.objects.filter(task=task, depends_on_id=depends_on_id).delete()
    if not deleted:
        raise NotFound()


def ready_q() -> Q:
    """Tasks every dependency of which is done (the stored ``deps_done``, kept by triggers)."""
    return Q(deps_done=True)


def ready_tasks(qs: QuerySet[RoadmapTask] | None = None) -> QuerySet[RoadmapTask]:
    qs = RoadmapTask.objects.all() if qs is None else qs
    return qs.filter(ready_q(), status=TaskStatus.OPEN)


def is_ready(task: RoadmapTask) -> bool:
    return RoadmapTask.objects.filter(pk=task.pk, deps_done=True).exists()


# --- claims -----------------------------------------------------------------------------------


def _claim_limit(user: Any) -> int:
    if user.is_ai:
        return user.agent_max_concurrent_claims or AGENT_DEFAULT_MAX_CLAIMS
    return HUMAN_MAX_ACTIVE_CLAIMS


def _check_rule(user: Any, level: Level, rule: str) -> None:
    """The claimable_by rule for a caller with ``level`` on the task's project."""
    if rule == ClaimableBy.AGENTS and not user.is_ai:
        raise PermissionDenied("Only agents claim this task.", code="not_claimable")
    if rule == ClaimableBy.HUMANS and user.is_ai:
        raise PermissionDenied("Only people claim this task.", code="not_claimable")
    if rule == ClaimableBy.ANYONE and not user.is_ai:
        if level < Level.CONTRIBUTE and timezone.now() - user.created_at < ANYONE_MIN_ACCOUNT_AGE:
            raise PermissionDenied("Accounts younger than 7 days claim only their projects' tasks.",
                                   code="not_claimable")  # fmt: skip
        return
    if level < Level.CONTRIBUTE:
        raise PermissionDenied(
            "You need the contribute level on this project to claim.", code="not_claimable"
        )


def _check_claimer(user: Any, level: Level) -> None:
    if level < Level.VIEW:
        raise NotFound()
    if user.is_ai and user.agent_status != User.AgentStatus.ACTIVE:
        raise InvalidState("The agent is not active.", code="agent_not_active")


def check_eligible(user: Any, task: RoadmapTask, *, level: Level | None = None) -> None:
    """The claimable_by rule and the project level (agents: an access grant ≥ contribute).
    ``level``: the caller's level on the task's project when the caller knows it already."""
    level = project_level(user, task.project) if level is None else level
    _check_claimer(user, level)
    _check_rule(user, level, task.claimable_by)


def claimable_rules(user: Any, level: Level) -> list[str]:
    """The claimable_by values ``user`` (with ``level`` on the project) may claim."""
    rules = []
    for rule in ClaimableBy.values:
        try:
            _check_rule(user, level, rule)
        except PermissionDenied:
            continue
        rules.append(rule)
    return rules


# One claim = two statements inside the transaction. The first locks the claimant's row (claims
# per claimant are serialised), picks one task and locks it (FOR UPDATE; SKIP LOCKED for "next"),
# moves it open → claimed with the fence bump (conditional on status) and inserts the claim row
# (the partial unique index on live claims stays the backstop). The second runs with a snapshot
# taken after those locks: the claimant's live claims — one counter row, ClaimantLoad, kept by a
# trigger on TaskClaim (migration 0003) — (over the limit → the whole claim rolls
# back) and whether the task has funded escrows to lock (a concurrent funding either committed
# before the task lock — seen here — or waits for it and sees the claim).
_PICK_NEXT = """
    SELECT t.id FROM {task} t
    WHERE t.project_id = %(project)s AND t.status = 'open' AND t.deps_done AND t.claimable_by = ANY(%(rules)s)
      AND EXISTS (SELECT 1 FROM u WHERE u.active) AND {granted}
    ORDER BY t.priority, t.due_at NULLS LAST, t.created_at
    LIMIT 1 FOR UPDATE OF t SKIP LOCKED
"""
_PICK_ONE = """
    SELECT t.id FROM {task} t
    WHERE t.id = %(task)s AND t.status = 'open' AND t.deps_done AND EXISTS (SELECT 1 FROM u WHERE u.active)
    FOR UPDATE OF t
"""
# the claim row of the task a statement's ``moved`` CTE moved to claimed (both claim statements)
_CLAIM_ROW = """
    INSERT INTO {claim} (id, created_at, updated_at, network_id, task_id, claimant_id, status, lease_token, fence,
                         lease_expires_at, attempt_no, source, signal_id, end_reason)
    SELECT %(id)s, %(now)s, %(now)s, m.network_id, m.id, %(claimant)s, 'active', %(token)s, m.lease_seq,
           %(now)s + make_interval(secs => m.lease_seconds),
           LEAST((SELECT count(*) FROM {claim} c WHERE c.task_id = m.id) + 1, 32000), %(source)s, %(signal)s, ''
    FROM moved m
    RETURNING task_id, network_id, fence, lease_expires_at, attempt_no
"""
_CLAIM = """
WITH u AS (
    SELECT id, (NOT is_ai OR agent_status = 'active') AS active, agent_max_concurrent_claims AS max_claims
    FROM {user} WHERE id = %(claimant)s FOR UPDATE
), pick AS ({pick}
), moved AS (
    UPDATE {task} t SET status = 'claimed', lease_seq = t.lease_seq + 1, updated_at = %(now)s
    FROM pick WHERE t.id = pick.id AND t.status = 'open'
    RETURNING t.id, t.network_id, t.lease_seq, t.lease_seconds
), claim AS ({claim_row})
SELECT u.active AND {granted}, u.max_claims, claim.task_id, claim.network_id, claim.fence, claim.lease_expires_at,
       claim.attempt_no
FROM u LEFT JOIN claim ON true
"""
_AFTER_CLAIM = """
SELECT COALESCE((SELECT live FROM {load} WHERE network_id = %(network)s AND claimant_id = %(claimant)s), 0),
       EXISTS (SELECT 1 FROM {escrow} WHERE task_id = %(task)s AND status = 'funded')
"""


def _tables() -> dict[str, str]:
    from apps.bounties.models import BountyEscrow

    return {
        "task": RoadmapTask._meta.db_table,
        "claim": TaskClaim._meta.db_table,
        "user": User._meta.db_table,
        "escrow": BountyEscrow._meta.db_table,
        "load": ClaimantLoad._meta.db_table,
    }


_AGENT_SENTINEL, _PROJECT_SENTINEL = uuid.UUID(int=0xA6E), uuid.UUID(int=0x9A0)
_agent_grant_cache: tuple[str, dict[str, Any]] | None = None


def _agent_grant_sql() -> tuple[str, dict[str, Any]]:
    """The agents' own rule (``apps.agents.selectors.live_access``: a live grant ≥ contribute on
    the project) as an EXISTS over the statement's ``%(claimant)s``, ``%(project)s`` and
    ``%(now)s`` — compiled from its queryset once per process (sentinel ids mark where the agent
    and the project go; the rule's one datetime is "now"), plus its constant parameters."""
    global _agent_grant_cache
    if _agent_grant_cache is None:
        from apps.agents.selectors import ROLE_LEVEL, live_access

        roles = [role for role, level in ROLE_LEVEL.items() if level >= Level.CONTRIBUTE]
        sql, values = (
            live_access()
            .filter(agent_id=_AGENT_SENTINEL, project_id=_PROJECT_SENTINEL, role__in=roles)
            .values("pk")
            .query.sql_with_params()
        )
        names, constants = [], {}
        for i, value in enumerate(values):
            if value == _AGENT_SENTINEL:
                names.append("claimant")
            elif value == _PROJECT_SENTINEL:
                names.append("project")
            elif isinstance(value, datetime):
                names.append("now")
            else:
                names.append(f"grant{i}")
                constants[f"grant{i}"] = value
        if names.count("claimant") != 1 or names.count("project") != 1:
            raise RuntimeError(f"live_access() compiled to an unexpected shape: {sql}")
        parts = sql.split("%s")
        text = parts[0] + "".join(f"%({name})s{part}" for name, part in zip(names, parts[1:], strict=True))
        _agent_grant_cache = (f"EXISTS ({text})", constants)
    return _agent_grant_cache


def _grant(*, claimant: Any, source: str, signal_row: Any = None, task: RoadmapTask | None = None,
           project: Any = None, rules: list[str] | None = None,
           granted: tuple[str, dict[str, Any]] | None = None) -> TaskClaim | None:  # fmt: skip
    """Claim ``task`` (waiting for its row lock), or the best ready task of ``project`` among
    ``rules`` (skipping locked rows): None when there was nothing to claim. The caller has
    checked eligibility — or passes ``granted``, a condition the statement checks itself (a
    false one raises ``_NotGranted``, nothing written) — and holds a transaction."""
    tables = {**_tables(), "granted": granted[0] if granted else "true"}
    now = timezone.now()
    params = {
        "claimant": claimant.pk, "now": now, "id": uuid7(), "token": uuid.uuid4(), "source": source,
        "signal": getattr(signal_row, "pk", None), "task": getattr(task, "pk", None),
        "project": getattr(project, "pk", None), "rules": rules, **(granted[1] if granted else {}),
    }  # fmt: skip
    pick = (_PICK_ONE if task is not None else _PICK_NEXT).format(**tables)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM.format(pick=pick, claim_row=_CLAIM_ROW.format(**tables), **tables), params)
        active, max_claims, task_id, network_id, fence, expires, attempt = cursor.fetchone()
        if not active:
            if granted:
                raise _NotGranted()
            raise InvalidState("The agent is not active.", code="agent_not_active")
        if task_id is None:
            return None
        limit = (max_claims or AGENT_DEFAULT_MAX_CLAIMS) if claimant.is_ai else HUMAN_MAX_ACTIVE_CLAIMS
        cursor.execute(_AFTER_CLAIM.format(**tables), {"claimant": claimant.pk, "task": task_id,
                                                      "network": network_id, "limit": limit})  # fmt: skip
        held, funded = cursor.fetchone()
    if held > limit:
        raise InvalidState("You hold as many claims as allowed.", code="claim_limit")
    claim = TaskClaim(
        id=params["id"], created_at=now, updated_at=now, network_id=network_id, task_id=task_id, claimant=claimant,
        status=ClaimStatus.ACTIVE, lease_token=params["token"], fence=fence, lease_expires_at=expires,
        attempt_no=attempt, source=source, signal=signal_row if params["signal"] else None,
    )  # fmt: skip
    claim._state.adding, claim._state.db = False, "default"
    if task is not None:
        claim.task = task
    if funded:
        from apps.bounties.services import lock_task_escrows

        lock_task_escrows(task=claim.task if task is not None else RoadmapTask(pk=task_id), claim=claim)
    return claim


class _NotGranted(Exception):
    """The statement's own eligibility condition was false: decide the reason the slow way."""


def _claim_one(*, actor: Any, task: RoadmapTask, level: Level | None, source: str,
               signal_row: Any = None) -> TaskClaim:  # fmt: skip
    check_eligible(actor, task, level=level)
    if task.status != TaskStatus.OPEN:
        raise InvalidState(f"A {task.status} task is not claimed.", code="not_claimable")
    if not task.deps_done:
        raise InvalidState("The task waits on dependencies that are not done.", code="not_ready")
    try:
        with transaction.atomic():
            claim = _grant(claimant=actor, source=source, signal_row=signal_row, task=task)
    except IntegrityError as exc:
        raise Conflict("The task is already claimed.", code="already_claimed") from exc
    if claim is None:
        raise InvalidState("The task is not open for claims.", code="already_claimed")
    task.status, task.lease_seq = TaskStatus.CLAIMED, claim.fence
    return claim


def claim_task(
    *, actor: Any, task: RoadmapTask, source: str = ClaimSource.MANUAL, signal_row: Any = None
) -> TaskClaim:
    ensure_same_network(actor.network_id, task)
    task = RoadmapTask.objects.select_related("project").get(pk=task.pk)
    return _claim_one(actor=actor, task=task, level=None, source=source, signal_row=signal_row)


def claimable_q(user: Any) -> Q:
    if user.is_ai:
        return Q(claimable_by__in=(ClaimableBy.AGENTS, ClaimableBy.ANYONE, ClaimableBy.PROJECT_MEMBERS))
    return Q(claimable_by__in=(ClaimableBy.HUMANS, ClaimableBy.ANYONE, ClaimableBy.PROJECT_MEMBERS))


# ``claim_next`` is ONE statement (autocommit: its own transaction; inside a caller's transaction a
# savepoint). It locks the claimant's row, picks and locks the best ready task (SKIP LOCKED), then —
# after both locks, through the fresh-snapshot functions of migration 0004 — reads the claimant's
# live claims (ClaimantLoad) and whether the task has funded escrows; the task moves open → claimed
# with the fence bump and the claim row is inserted only when the claimant is under its limit and
# there is no funded escrow to lock (then the transactional ``_grant`` path runs, which calls
# ``lock_task_escrows``). Over the limit, nothing is written. The statement also returns whether
# the claimant is active and (agents) holds a live grant, to say why nothing was picked.
_CLAIM_NEXT = """
WITH u AS MATERIALIZED (
    SELECT id, (NOT is_ai OR agent_status = 'active') AS active,
           CASE WHEN is_ai THEN COALESCE(NULLIF(agent_max_concurrent_claims, 0), %(agent_max)s)
                ELSE %(human_max)s END AS max_claims
    FROM {user} WHERE id = %(claimant)s FOR UPDATE
), pick AS MATERIALIZED (
    SELECT t.id, t.network_id FROM {task} t
    WHERE t.project_id = %(project)s AND t.status = 'open' AND t.deps_done AND t.claimable_by = ANY(%(rules)s)
      AND EXISTS (SELECT 1 FROM u WHERE u.active) AND {granted}
    ORDER BY t.priority, t.due_at NULLS LAST, t.created_at
    LIMIT 1 FOR UPDATE OF t SKIP LOCKED
), chk AS MATERIALIZED (
    SELECT pick.id, dispatcher_claimant_live(pick.network_id, %(claimant)s) AS live,
           dispatcher_task_funded(pick.id) AS funded
    FROM pick
), moved AS (
    UPDATE {task} t SET status = 'claimed', lease_seq = t.lease_seq + 1, updated_at = %(now)s
    FROM chk, u WHERE t.id = chk.id AND t.status = 'open' AND NOT chk.funded AND chk.live < u.max_claims
    RETURNING t.id, t.network_id, t.lease_seq, t.lease_seconds
), claim AS ({claim_row})
SELECT u.active AND {granted}, chk.id IS NOT NULL, chk.funded, claim.task_id, claim.network_id, claim.fence,
       claim.lease_expires_at, claim.attempt_no
FROM u LEFT JOIN chk ON true LEFT JOIN claim ON true
"""
_claim_next_sql: dict[bool, str] = {}
_AGENT_RULES = [ClaimableBy.AGENTS, ClaimableBy.ANYONE, ClaimableBy.PROJECT_MEMBERS]
_CLAIM_FIELDS = [f.attname for f in TaskClaim._meta.concrete_fields]


def claim_next(*, actor: Any, project: Any) -> TaskClaim:
    """The best ready task of ``project`` for the caller (priority, due date, age), skipping rows
    other claimers hold locked right now. Eligibility is decided once for the call (level → the
    claimable_by values the caller may claim), then one pick-and-claim statement runs. An active
    agent of the project's network skips the separate level query: its grant (≥ contribute: every
    rule an agent may claim) is a condition of the statement; without one, the full check says why."""
    if (
        actor.is_ai
        and actor.agent_status == User.AgentStatus.ACTIVE
        and actor.network_id == project.network_id
    ):
        try:
            return _claim_next(actor, project, _AGENT_RULES, granted=True)
        except _NotGranted:
            pass  # no grant, or paused meanwhile: the reason below
    level = project_level(actor, project)
    _check_claimer(actor, level)
    rules = claimable_rules(actor, level)
    if not rules:
        _check_rule(actor, level, ClaimableBy.PROJECT_MEMBERS)  # raises the reason
    return _claim_next(actor, project, rules)


def _claim_next(actor: Any, project: Any, rules: list[str], *, granted: bool = False) -> TaskClaim:
    sql = _claim_next_sql.get(granted)
    if sql is None:
        grant = _agent_grant_sql() if granted else ("true", {})
        tables = _tables()
        sql = _claim_next_sql[granted] = _CLAIM_NEXT.format(
            **tables, granted=grant[0], claim_row=_CLAIM_ROW.format(**tables)
        )
    now = timezone.now()
    params = {
        "claimant": actor.pk, "project": project.pk, "rules": rules, "now": now, "id": uuid7(),
        "token": uuid.uuid4(), "source": ClaimSource.MANUAL, "signal": None, "agent_max": AGENT_DEFAULT_MAX_CLAIMS,
        "human_max": HUMAN_MAX_ACTIVE_CLAIMS, **(_agent_grant_sql()[1] if granted else {}),
    }  # fmt: skip
    try:  # prepared: planning the statement cost as much as running it
        if connection.in_atomic_block:  # a savepoint keeps the caller's transaction usable
            with transaction.atomic(), statement_cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        else:  # autocommit: the statement is its own transaction
            with statement_cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
    except IntegrityError as exc:
        raise Conflict("The task is already claimed.", code="already_claimed") from exc
    ok, picked, funded, task_id, network_id, fence, expires, attempt = row
    if not ok:
        if granted:
            raise _NotGranted()
        raise InvalidState("The agent is not active.", code="agent_not_active")
    if task_id is None:
        if not picked:
            raise NotFound("No ready task for you in this project.", code="no_ready_task")
        if funded:  # its funded escrows lock with the claim: the transactional path
            return _claim_next_locking(actor, project, rules, granted=granted)
        raise InvalidState("You hold as many claims as allowed.", code="claim_limit")
    values = {
        "id": params["id"], "created_at": now, "updated_at": now, "network_id": network_id, "task_id": task_id,
        "claimant_id": actor.pk, "status": ClaimStatus.ACTIVE, "lease_token": params["token"], "fence": fence,
        "lease_expires_at": expires, "attempt_no": attempt, "source": ClaimSource.MANUAL, "end_reason": "",
    }  # fmt: skip
    claim = TaskClaim.from_db("default", _CLAIM_FIELDS, [values.get(name) for name in _CLAIM_FIELDS])
    TaskClaim.claimant.field.set_cached_value(claim, actor)
    return claim


def _claim_next_locking(actor: Any, project: Any, rules: list[str], *, granted: bool) -> TaskClaim:
    """``claim_next`` for when the picked task has funded escrows: the two-statement ``_grant`` in a
    transaction, which locks them to the claim (``lock_task_escrows``) before it commits."""
    try:
        with transaction.atomic():
            claim = _grant(claimant=actor, source=ClaimSource.MANUAL, project=project, rules=rules,
                           granted=_agent_grant_sql() if granted else None)  # fmt: skip
    except IntegrityError as exc:
        raise Conflict("The task is already claimed.", code="already_claimed") from exc
    if claim is None:
        raise NotFound("No ready task for you in this project.", code="no_ready_task")
    return claim


def _locked_live_claim(claim: TaskClaim, *, actor: Any, lease_token: Any) -> TaskClaim:
    claim = TaskClaim.objects.select_for_update().select_related("task", "task__project").get(pk=claim.pk)
    if claim.claimant_id != actor.pk:
        raise PermissionDenied("This claim is someone else's.")
    token_ok = str(claim.lease_token) == str(lease_token)
    fence_ok = claim.fence == claim.task.lease_seq
    if (
        claim.status != ClaimStatus.ACTIVE
        or not token_ok
        or not fence_ok
        or claim.lease_expires_at <= timezone.now()
    ):
        raise StaleLease()
    return claim


@transaction.atomic
def heartbeat(*, actor: Any, claim: TaskClaim, lease_token: Any) -> TaskClaim:
    claim = _locked_live_claim(claim, actor=actor, lease_token=lease_token)
    now = timezone.now()
    cap = claim.created_at + timedelta(seconds=settings.DISPATCHER_MAX_LEASE_SECONDS)
    claim.lease_expires_at = min(now + timedelta(seconds=claim.task.lease_seconds), cap)
    claim.heartbeat_at = now
    claim.save(update_fields=["lease_expires_at", "heartbeat_at", "updated_at"])
    return claim


def _end_claim(
    claim: TaskClaim, *, status: str, reason: str, actor: Any = None, signal_kind: str
) -> TaskClaim:
    now = timezone.now()
    moved = TaskClaim.objects.filter(
        pk=claim.pk, status__in=(ClaimStatus.ACTIVE, ClaimStatus.SUBMITTED)
    ).update(status=status, ended_at=now, end_reason=reason[:200], updated_at=now)
    if not moved:
        raise InvalidState("The claim has ended.")
    task = claim.task
    RoadmapTask.objects.filter(pk=task.pk, status__in=(TaskStatus.CLAIMED, TaskStatus.IN_REVIEW)).update(
        status=TaskStatus.OPEN, updated_at=now
    )
    TaskOutcome.objects.filter(claim=claim, status__in=(OutcomeStatus.SUBMITTED, OutcomeStatus.VERIFYING,
                               OutcomeStatus.PASSED)).update(status=OutcomeStatus.SUPERSEDED)  # fmt: skip
    from apps.bounties.services import unlock_task_escrows

    unlock_task_escrows(task=task)
    signal(
        kind=signal_kind, project=task.project, task=task, actor=actor, dedupe_key=f"{signal_kind}:{claim.pk}"
    )
    claim.refresh_from_db()
    return claim


@transaction.atomic
def release_claim(*, actor: Any, claim: TaskClaim, lease_token: Any, reason: str = "released") -> TaskClaim:
    claim = _locked_live_claim(claim, actor=actor, lease_token=lease_token)
    return _end_claim(claim, status=ClaimStatus.RELEASED, reason=reason, actor=actor,
                      signal_kind=SignalKind.CLAIM_RELEASED)  # fmt: skip


@transaction.atomic
def revoke_claim(*, actor: Any, claim: TaskClaim, reason: str = "revoked") -> TaskClaim:
    claim = TaskClaim.objects.select_for_update().select_related("task", "task__project").get(pk=claim.pk)
    if actor is not None and not _is_maintainer(actor, claim.task.project):
        raise PermissionDenied("A maintainer revokes claims.")
    return _end_claim(claim, status=ClaimStatus.REVOKED, reason=reason, actor=actor,
                      signal_kind=SignalKind.CLAIM_RELEASED)  # fmt: skip


def release_agent_claims(*, agent: Any, reason: str) -> int:
    """The agents' pause/disable hook: the agent's active claims end (released)."""
    count = 0
    for claim in TaskClaim.objects.filter(claimant=agent, status=ClaimStatus.ACTIVE).select_related(
        "task__project"
    ):
        with transaction.atomic():
            try:
                _end_claim(
                    claim, status=ClaimStatus.RELEASED, reason=reason, signal_kind=SignalKind.CLAIM_RELEASED
                )
                count += 1
            except InvalidState:
                continue
    return count


def reap_expired_claims(*, limit: int = 500) -> int:
    """Active claims past their lease (no heartbeat) expire; their tasks are open again."""
    count = 0
    while count < limit:
        with transaction.atomic():
            batch = list(
                TaskClaim.objects.select_for_update(skip_locked=True)
                .filter(status=ClaimStatus.ACTIVE, lease_expires_at__lte=timezone.now())
                .select_related("task__project")
                .order_by("lease_expires_at")[: min(100, limit - count)]
            )
            if not batch:
                break
            for claim in batch:
                _end_claim(claim, status=ClaimStatus.EXPIRED, reason="lease expired",
                           signal_kind=SignalKind.CLAIM_EXPIRED)  # fmt: skip
            count += len(batch)
    return count


# --- outcome checks ---------------------------------------------------------------------------


def _validate_check(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    if kind == CheckKind.HTTP:
        url = str(config.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ValidationFailed("An http check needs a url.", field="config")
    if kind == CheckKind.LLM_RUBRIC and not config.get("rubric"):
        raise ValidationFailed("An llm_rubric check needs a rubric.", field="config")
    if kind in (CheckKind.CI_STATUS, CheckKind.COMMAND):
        from . import runners

        check = runners.validate_ci_status if kind == CheckKind.CI_STATUS else runners.validate_command
        problem = check(config)
        if problem:
            raise ValidationFailed(problem, field="config")
    return config


@transaction.atomic
def add_check(*, actor: Any, task: RoadmapTask, name: str, kind: str, config: dict | None = None,
              required: bool = True, position: int = 0, timeout_s: int = 900) -> OutcomeCheck:  # fmt: skip
    require_level(actor, task.project, Level.MAINTAIN)
    if kind not in CheckKind.values:
        raise ValidationFailed("Unknown check kind.", field="kind")
    if task.status not in (TaskStatus.DRAFT, TaskStatus.OPEN, TaskStatus.ON_HOLD):
        raise InvalidState("Checks change only before the task is claimed.")
    try:
        with transaction.atomic():
            return OutcomeCheck.objects.create(
                network_id=task.network_id, task=task, name=name, kind=kind, config=_validate_check(kind, config or {}),
                required=required, position=position, timeout_s=timeout_s,
            )  # fmt: skip
    except IntegrityError as exc:
        raise ValidationFailed("A check of this name exists.", field="name") from exc


@transaction.atomic
def update_check(*, actor: Any, check: OutcomeCheck, changes: dict[str, Any]) -> OutcomeCheck:
    require_level(actor, check.task.project, Level.MAINTAIN)
    if check.task.status not in (TaskStatus.DRAFT, TaskStatus.OPEN, TaskStatus.ON_HOLD):
        raise InvalidState("Checks change only before the task is claimed.")
    for name, value in changes.items():
        setattr(check, name, value)
    _validate_check(check.kind, check.config)
    check.save()
    return check


@transaction.atomic
def delete_check(*, actor: Any, check: OutcomeCheck) -> None:
    require_level(actor, check.task.project, Level.MAINTAIN)
    if check.task.status not in (TaskStatus.DRAFT, TaskStatus.OPEN, TaskStatus.ON_HOLD):
        raise InvalidState("Checks change only before the task is claimed.")
    check.delete()


# --- outcomes and verification ----------------------------------------------------------------

_RUNNER = {
    CheckKind.CI_STATUS: Runner.WORKER,
    CheckKind.HTTP: Runner.WORKER,
    CheckKind.COMMAND: Runner.SANDBOX,
    CheckKind.LLM_RUBRIC: Runner.LLM,
    CheckKind.MANUAL: Runner.HUMAN,
}


def _queue_run(outcome: TaskOutcome, check: OutcomeCheck, attempt: int = 1) -> VerificationRun:
    run = VerificationRun.objects.create(
        network_id=outcome.network_id, outcome=outcome, outcome_check=check, attempt=attempt,
        runner=_RUNNER[check.kind],
    )  # fmt: skip
    if check.kind == CheckKind.MANUAL:
        _ask_review(outcome, run=run)
    else:
        from .tasks import run_verification

        run_id = str(run.pk)
        transaction.on_commit(lambda: run_verification.delay(run_id))
    return run


def _ask_review(outcome: TaskOutcome, *, run: VerificationRun | None = None) -> None:
    from apps.inbox.services import deliver_inbox_item

    task = outcome.task
    for maintainer in _maintainers(task.project):
        deliver_inbox_item(
            recipient=maintainer, kind="task_review", actor=outcome.submitted_by,
            target_type="dispatcher.taskoutcome", target_id=outcome.pk, title=f"Review: {task.title}",
            body=outcome.summary[:500], requires_action=True, data={"run": str(run.pk) if run else None},
        )  # fmt: skip


@transaction.atomic
def submit_outcome(*, actor: Any, claim: TaskClaim, lease_token: Any, summary: str = "",
                   artifacts: list | None = None) -> TaskOutcome:  # fmt: skip
    claim = _locked_live_claim(claim, actor=actor, lease_token=lease_token)
    task = claim.task
    now = timezone.now()
    TaskClaim.objects.filter(pk=claim.pk, status=ClaimStatus.ACTIVE).update(
        status=ClaimStatus.SUBMITTED, updated_at=now
    )
    moved = RoadmapTask.objects.filter(pk=task.pk, status=TaskStatus.CLAIMED).update(
        status=TaskStatus.IN_REVIEW, attempt_count=F("attempt_count") + 1, updated_at=now
    )
    if not moved:
        raise InvalidState("The task is not being worked on.")
    attempt = TaskOutcome.objects.filter(claim=claim).count() + 1
    try:
        with transaction.atomic():
            outcome = TaskOutcome.objects.create(
                network_id=task.network_id, task=task, claim=claim, submitted_by=actor, attempt_no=attempt,
                summary=summary, artifacts=artifacts or [], status=OutcomeStatus.VERIFYING,
            )  # fmt: skip
    except IntegrityError as exc:
        raise InvalidState("An outcome is already under review.", code="already_submitted") from exc
    checks = list(task.checks.all())
    for check in checks:
        _queue_run(outcome, check)
    if not checks:
        outcome.status = OutcomeStatus.PASSED
        outcome.save(update_fields=["status", "updated_at"])
        _ask_review(outcome)
    signal(kind=SignalKind.OUTCOME_SUBMITTED, project=task.project, task=task, actor=actor)
    return outcome


def _run_check(run: VerificationRun) -> tuple[str, dict[str, Any], str, Any]:
    """Execute one automatic check → (status, result, log excerpt, ai_usage)."""
    check = run.outcome_check
    config = check.config or {}
    if check.kind == CheckKind.HTTP:
        import httpx

        from apps.core.ssrf import UnsafeAddress, public_client

        expected = int(config.get("expected_status", 200))
        text = config.get("expected_text")
        try:
            with public_client(allow_private=settings.DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE,
                               timeout=min(check.timeout_s, 60)) as client:  # fmt: skip
                response = client.get(config["url"])
        except UnsafeAddress:
            return (
                RunStatus.FAILED,
                {"error": "unsafe_address"},
                "The URL resolves to a private address.",
                None,
            )
        except httpx.HTTPError as exc:
            return RunStatus.ERROR, {"error": type(exc).__name__}, str(exc)[:2000], None
        body = response.text[:16000]
        ok = response.status_code == expected and (not text or text in body)
        return (
            (RunStatus.PASSED if ok else RunStatus.FAILED),
            {"status_code": response.status_code},
            body,
            None,
        )
    if check.kind == CheckKind.LLM_RUBRIC:
        from apps.billing.services.ai import complete

        outcome = run.outcome
        judge = outcome.task.created_by or outcome.task.project.owner_user
        prompt = (
            f"Rubric:\n{config['rubric']}\n\nTask: {outcome.task.title}\n{outcome.task.description}\n\n"
            f"Submitted outcome:\n{outcome.summary}\n\nAnswer with a score from 0 to 100 on the first line."
        )
        try:
            done = complete(user=judge, messages=[{"role": "user", "content": prompt}], feature="verification",
                            project=outcome.task.project, max_tokens=200)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - provider failures are the run's error, never the worker's
            usage = getattr(exc, "usage", None)
            return RunStatus.ERROR, {"error": type(exc).__name__}, str(exc)[:2000], usage
        first = (done.result.content or "").strip().splitlines()[:1]
        try:
            score = float(first[0].strip().rstrip("%")) if first else -1
        except ValueError:
            score = -1
        passed = score >= float(config.get("pass_score", 70))
        return (
            (RunStatus.PASSED if passed else RunStatus.FAILED),
            {"score": score},
            done.result.content[:16000],
            done.usage,
        )
    from . import runners

    if check.kind == CheckKind.CI_STATUS:
        return (*runners.run_ci_status(run), None)
    if check.kind == CheckKind.COMMAND:
        return (*runners.run_command(run), None)
    return RunStatus.ERROR, {"error": "runner_unavailable"}, f"No runner for {check.kind} checks.", None


def run_verification(run_id: Any, poll: str | None = None) -> str | None:
    """Run one queued verification (Celery ``dispatcher.run_verification``); idempotent.

    ``poll``: a CI status that was still pending re-runs the check of a ``running`` run; the
    value is the run's ``updated_at`` when the poll was scheduled, so one poll (of duplicates)
    proceeds. Pending past the check's timeout → error ``timeout`` (retried like any error)."""
    from . import runners

    now = timezone.now()
    runs = VerificationRun.objects.filter(pk=run_id)
    if poll is None:
        claimed = runs.filter(status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now, updated_at=now
        )
    else:
        claimed = runs.filter(status=RunStatus.RUNNING, updated_at=poll).update(updated_at=now)
    if not claimed:
        return None
    run = VerificationRun.objects.select_related("outcome__task__project", "outcome_check").get(pk=run_id)
    status, result, log, usage = _run_check(run)
    if status == runners.PENDING:
        timeout = run.outcome_check.timeout_s
        if timezone.now() >= run.started_at + timedelta(seconds=timeout):
            status, result = RunStatus.ERROR, {**result, "error": "timeout"}
            log = f"Still pending after {timeout} s.\n{log}"
        else:
            _poll_later(run, result=result, log=log)
            return runners.PENDING
    try:
        finish_run(run=run, status=status, result=result, log_excerpt=log, ai_usage=usage)
    except InvalidState:
        return None  # finished meanwhile (the timeout sweeper, a rerun)
    return status


@transaction.atomic
def _poll_later(run: VerificationRun, *, result: dict[str, Any], log: str) -> None:
    from . import runners
    from .tasks import run_verification as task

    stamp = timezone.now()
    if VerificationRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        result={**result, "polled_at": stamp.isoformat()}, log_excerpt=redact(log)[:16000], updated_at=stamp
    ):
        run_id, delay = str(run.pk), runners.poll_seconds(run.outcome_check.config or {})
        transaction.on_commit(
            lambda: task.apply_async((run_id,), {"poll": stamp.isoformat()}, countdown=delay)
        )


@transaction.atomic
def finish_run(*, run: VerificationRun, status: str, result: dict | None = None, log_excerpt: str = "",
               ai_usage: Any = None, verifier: Any = None, score: Any = None) -> VerificationRun:  # fmt: skip
    now = timezone.now()
    score = score if score is not None else (result or {}).get("score")
    moved = VerificationRun.objects.filter(pk=run.pk, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).update(
        status=status, result=result or {}, log_excerpt=redact(log_excerpt or "")[:16000], finished_at=now,
        ai_usage=ai_usage if getattr(ai_usage, "pk", None) else None, verifier=verifier, updated_at=now,
        score=score if isinstance(score, int | float) and 0 <= score <= 999 else None,
    )  # fmt: skip
    if not moved:
        raise InvalidState("The run has finished.")
    run.refresh_from_db()
    if status == RunStatus.ERROR and run.attempt <= RUN_ERROR_RETRIES:
        _queue_run(run.outcome, run.outcome_check, attempt=run.attempt + 1)
        return run
    evaluate_outcome(outcome=run.outcome)
    return run


def decide_run(*, actor: Any, run: VerificationRun, passed: bool, note: str = "") -> VerificationRun:
    """A maintainer decides a manual check."""
    task = run.outcome.task
    if not _is_maintainer(actor, task.project):
        raise PermissionDenied("A maintainer decides manual checks.")
    if actor.pk == run.outcome.submitted_by_id:
        raise PermissionDenied("You cannot verify your own outcome.")
    if run.outcome_check.kind != CheckKind.MANUAL:
        raise InvalidState("Only manual checks are decided by hand.")
    return finish_run(run=run, status=RunStatus.PASSED if passed else RunStatus.FAILED,
                      result={"note": note}, verifier=actor)  # fmt: skip


@transaction.atomic
def rerun(*, actor: Any, run: VerificationRun) -> VerificationRun:
    if not _is_maintainer(actor, run.outcome.task.project):
        raise PermissionDenied()
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        raise InvalidState("The run has not finished.")
    if run.outcome.status not in (OutcomeStatus.VERIFYING, OutcomeStatus.FAILED):
        raise InvalidState("The outcome is decided.")
    latest = run.outcome.runs.filter(outcome_check=run.outcome_check).order_by("-attempt").first()
    return _queue_run(run.outcome, run.outcome_check, attempt=latest.attempt + 1)


def evaluate_outcome(*, outcome: TaskOutcome) -> TaskOutcome:
    """Latest run per check decides: a required failure fails the outcome; all required passed
    passes it (accepted unless a person must review)."""
    outcome = (
        TaskOutcome.objects.select_for_update().select_related("task__project", "claim").get(pk=outcome.pk)
    )
    if outcome.status != OutcomeStatus.VERIFYING:
        return outcome
    latest: dict[Any, VerificationRun] = {}
    for run in outcome.runs.select_related("outcome_check").order_by("attempt"):
        latest[run.outcome_check_id] = run
    required = [r for r in latest.values() if r.outcome_check.required]
    if any(r.status in (RunStatus.FAILED, RunStatus.ERROR) for r in required):
        return _fail_outcome(outcome, note="a required check failed")
    if any(r.status in (RunStatus.QUEUED, RunStatus.RUNNING) for r in latest.values()):
        return outcome
    outcome.status = OutcomeStatus.PASSED
    outcome.save(update_fields=["status", "updated_at"])
    signal(kind=SignalKind.VERIFICATION_FINISHED, project=outcome.task.project, task=outcome.task)
    if outcome.task.requires_human_review:
        _ask_review(outcome)
        return outcome
    return _accept(outcome)


def _accept(outcome: TaskOutcome, *, reviewer: Any = None, note: str = "") -> TaskOutcome:
    now = timezone.now()
    outcome.status, outcome.decided_at, outcome.reviewer, outcome.review_note = (
        OutcomeStatus.ACCEPTED, now, reviewer, note,
    )  # fmt: skip
    outcome.save(update_fields=["status", "decided_at", "reviewer", "review_note", "updated_at"])
    _move_task(outcome.task, to=TaskStatus.ACCEPTED, allowed=(TaskStatus.IN_REVIEW,), accepted_at=now)
    return outcome


def _fail_outcome(outcome: TaskOutcome, *, note: str, reviewer: Any = None,
                  status: str = OutcomeStatus.FAILED) -> TaskOutcome:  # fmt: skip
    now = timezone.now()
    outcome.status, outcome.decided_at, outcome.review_note, outcome.reviewer = status, now, note, reviewer
    outcome.save(update_fields=["status", "decided_at", "review_note", "reviewer", "updated_at"])
    task = RoadmapTask.objects.select_for_update().get(pk=outcome.task_id)
    claim = outcome.claim
    if task.attempt_count < task.max_attempts:
        # a fresh lease (new token, new fence) for the same claimant
        RoadmapTask.objects.filter(pk=task.pk, status=TaskStatus.IN_REVIEW).update(
            status=TaskStatus.CLAIMED, lease_seq=F("lease_seq") + 1, updated_at=now
        )
        fence = RoadmapTask.objects.filter(pk=task.pk).values_list("lease_seq", flat=True).get()
        TaskClaim.objects.filter(pk=claim.pk, status=ClaimStatus.SUBMITTED).update(
            status=ClaimStatus.ACTIVE, lease_token=uuid.uuid4(), fence=fence, updated_at=now,
            lease_expires_at=now + timedelta(seconds=task.lease_seconds),
        )  # fmt: skip
    else:
        TaskClaim.objects.filter(pk=claim.pk, status=ClaimStatus.SUBMITTED).update(
            status=ClaimStatus.FAILED, ended_at=now, end_reason="attempts exhausted", updated_at=now
        )
        RoadmapTask.objects.filter(pk=task.pk, status=TaskStatus.IN_REVIEW).update(
            status=TaskStatus.OPEN, updated_at=now
        )
        from apps.bounties.services import unlock_task_escrows

        unlock_task_escrows(task=task)
        signal(
            kind=SignalKind.TASK_REOPENED, project=task.project, task=task, dedupe_key=f"reopen:{outcome.pk}"
        )
    return outcome


@transaction.atomic
def review_outcome(*, actor: Any, outcome: TaskOutcome, accept: bool, note: str = "") -> TaskOutcome:
    outcome = (
        TaskOutcome.objects.select_for_update().select_related("task__project", "claim").get(pk=outcome.pk)
    )
    if not _is_maintainer(actor, outcome.task.project):
        raise PermissionDenied("A maintainer reviews outcomes.")
    if actor.pk in (outcome.submitted_by_id, outcome.claim.claimant_id):
        raise PermissionDenied("You cannot review your own outcome.")
    if outcome.status not in (OutcomeStatus.PASSED, OutcomeStatus.VERIFYING):
        raise InvalidState(f"A {outcome.status} outcome is not reviewed.")
    if accept:
        if outcome.status != OutcomeStatus.PASSED:
            raise InvalidState("Checks are still running or failed.")
        return _accept(outcome, reviewer=actor, note=note)
    return _fail_outcome(
        outcome, note=note or "rejected in review", reviewer=actor, status=OutcomeStatus.REJECTED
    )


# --- challenges and finalisation --------------------------------------------------------------


def _window_end(task: RoadmapTask) -> Any:
    return (task.accepted_at or timezone.now()) + timedelta(hours=task.challenge_window_hours)


@transaction.atomic
def challenge_outcome(*, actor: Any, outcome: TaskOutcome, reason: str, details: str = "",
                      evidence: list | None = None) -> RoadmapChallenge:  # fmt: skip
    outcome = (
        TaskOutcome.objects.select_for_update().select_related("task__project", "claim").get(pk=outcome.pk)
    )
    task = outcome.task
    require_level(actor, task.project, Level.CONTRIBUTE)
    if actor.pk in (outcome.submitted_by_id, outcome.claim.claimant_id):
        raise PermissionDenied("You cannot challenge your own outcome.")
    if outcome.status != OutcomeStatus.ACCEPTED or task.status != TaskStatus.ACCEPTED:
        raise InvalidState("Only an accepted outcome awaiting release is challenged.")
    if timezone.now() >= _window_end(task):
        raise InvalidState("The challenge window has closed.", code="window_closed")
    open_count = RoadmapChallenge.objects.filter(
        challenger=actor, status__in=(ChallengeStatus.OPEN, ChallengeStatus.UNDER_REVIEW)
    ).count()
    if open_count >= MAX_OPEN_CHALLENGES:
        raise InvalidState("You have as many open challenges as allowed.", code="challenge_limit")
    try:
        with transaction.atomic():
            challenge = RoadmapChallenge.objects.create(
                network_id=task.network_id, task=task, outcome=outcome, challenger=actor, reason=reason,
                details=details, evidence=evidence or [],
            )  # fmt: skip
    except IntegrityError as exc:
        raise InvalidState("You already challenge this outcome.", code="already_challenged") from exc
    from apps.inbox.services import deliver_inbox_item

    for maintainer in _maintainers(task.project):
        deliver_inbox_item(recipient=maintainer, kind="challenge", actor=actor, target_type="dispatcher.roadmapchallenge",
                           target_id=challenge.pk, title=f"Challenge: {task.title}", body=details[:500],
                           requires_action=True)  # fmt: skip
    return challenge


@transaction.atomic
def resolve_challenge(
    *, actor: Any, challenge: RoadmapChallenge, upheld: bool, note: str = ""
) -> RoadmapChallenge:
    challenge = (
        RoadmapChallenge.objects.select_for_update()
        .select_related("task__project", "outcome__claim")
        .get(pk=challenge.pk)
    )
    task, outcome = challenge.task, challenge.outcome
    if not _is_maintainer(actor, task.project):
        raise PermissionDenied("A maintainer resolves challenges.")
    if actor.pk in (challenge.challenger_id, outcome.claim.claimant_id, outcome.submitted_by_id):
        raise PermissionDenied("A party to the challenge does not resolve it.", code="party_to_challenge")
    if challenge.status not in (ChallengeStatus.OPEN, ChallengeStatus.UNDER_REVIEW):
        raise InvalidState("The challenge is resolved.")
    now = timezone.now()
    challenge.status = ChallengeStatus.UPHELD if upheld else ChallengeStatus.DISMISSED
    challenge.resolver, challenge.resolution_note, challenge.resolved_at = actor, note, now
    challenge.save(update_fields=["status", "resolver", "resolution_note", "resolved_at", "updated_at"])
    if upheld:
        TaskOutcome.objects.filter(pk=outcome.pk).update(status=OutcomeStatus.REJECTED, decided_at=now)
        TaskClaim.objects.filter(pk=outcome.claim_id, status=ClaimStatus.SUBMITTED).update(
            status=ClaimStatus.FAILED, ended_at=now, end_reason="challenge upheld", updated_at=now
        )
        _move_task(task, to=TaskStatus.OPEN, allowed=(TaskStatus.ACCEPTED,), accepted_at=None)
        from apps.bounties.services import unlock_task_escrows

        unlock_task_escrows(task=task)
        RoadmapChallenge.objects.filter(task=task, status__in=(ChallengeStatus.OPEN, ChallengeStatus.UNDER_REVIEW)).update(
            status=ChallengeStatus.UPHELD, resolver=actor, resolved_at=now, resolution_note="resolved with another"
        )  # fmt: skip
    signal(kind=SignalKind.CHALLENGE_RESOLVED, project=task.project, task=task, actor=actor)
    return challenge


@transaction.atomic
def withdraw_challenge(*, actor: Any, challenge: RoadmapChallenge) -> RoadmapChallenge:
    if challenge.challenger_id != actor.pk:
        raise PermissionDenied("Only the challenger withdraws.")
    moved = RoadmapChallenge.objects.filter(
        pk=challenge.pk, status__in=(ChallengeStatus.OPEN, ChallengeStatus.UNDER_REVIEW)
    ).update(status=ChallengeStatus.WITHDRAWN, resolved_at=timezone.now())
    if not moved:
        raise InvalidState("The challenge is resolved.")
    challenge.refresh_from_db()
    return challenge


def finalize_task(task_id: Any) -> bool:
    """accepted + window over + no open challenge → done; escrows released; counters move."""
    with transaction.atomic():
        task = RoadmapTask.objects.select_for_update(skip_locked=True).filter(pk=task_id).first()
        if task is None or task.status != TaskStatus.ACCEPTED or timezone.now() < _window_end(task):
            return False
        if task.challenges.filter(status__in=(ChallengeStatus.OPEN, ChallengeStatus.UNDER_REVIEW)).exists():
            return False
        now = timezone.now()
        _move_task(task, to=TaskStatus.DONE, allowed=(TaskStatus.ACCEPTED,), done_at=now)
        claim = TaskClaim.objects.filter(task=task, status=ClaimStatus.SUBMITTED).first()
        TaskClaim.objects.filter(task=task, status=ClaimStatus.SUBMITTED).update(
            status=ClaimStatus.COMPLETED, ended_at=now, end_reason="done", updated_at=now
        )
        from apps.bounties.services import release_task_escrows

        released = release_task_escrows(task=task)
        if task.milestone_id:
            from apps.brain.services import record_task_progress

            record_task_progress(milestone_id=task.milestone_id, delta_done=1)
        for dependent in RoadmapTask.objects.filter(dependencies__depends_on=task).select_related("project"):
            signal(kind=SignalKind.DEPENDENCY_DONE, project=dependent.project, task=dependent,
                   dedupe_key=f"depdone:{task.pk}:{dependent.pk}")  # fmt: skip
        if released and claim is not None:
            from apps.inbox.services import deliver_inbox_item

            deliver_inbox_item(recipient=claim.claimant, kind="bounty_paid", target_type="dispatcher.roadmaptask",
                               target_id=task.pk, title=f"Bounty paid: {task.title}")  # fmt: skip
    return True


def finalize_accepted(*, limit: int = 500) -> int:
    ids = list(
        RoadmapTask.objects.filter(status=TaskStatus.ACCEPTED, accepted_at__isnull=False)
        .order_by("accepted_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if finalize_task(pk))


def timeout_verifications() -> int:
    """Runs stuck running past their timeout error out (and are retried or fail the outcome)."""
    count = 0
    now = timezone.now()
    stuck = VerificationRun.objects.filter(status=RunStatus.RUNNING).select_related(
        "outcome_check", "outcome"
    )
    for run in stuck:
        if run.started_at and run.started_at + timedelta(seconds=run.outcome_check.timeout_s) < now:
            try:
                finish_run(
                    run=run, status=RunStatus.ERROR, result={"error": "timeout"}, log_excerpt="timed out"
                )
                count += 1
            except InvalidState:
                continue
    return count


# --- dispatcher state and tick ----------------------------------------------------------------


def state_for(project: Any) -> DispatcherState:
    state = DispatcherState.objects.filter(project=project).first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            return DispatcherState.objects.create(network_id=project.network_id, project=project)
    except IntegrityError:
        return DispatcherState.objects.get(project=project)


@transaction.atomic
def update_state(*, actor: Any, project: Any, changes: dict[str, Any]) -> DispatcherState:
    if not getattr(actor, "is_staff", False):
        require_level(actor, project, Level.ADMIN)
    state = DispatcherState.objects.select_for_update().get(pk=state_for(project).pk)
    for name in ("mode", "tick_interval_s", "max_active_claims"):
        if name in changes:
            setattr(state, name, changes[name])
    if state.mode != DispatcherMode.OFF and state.next_tick_at is None:
        state.next_tick_at = timezone.now()
    state.save()
    return state


def kick(*, actor: Any, project: Any) -> SignalLog | None:
    if not getattr(actor, "is_staff", False):
        require_level(actor, project, Level.ADMIN)
    state_for(project)
    with transaction.atomic():
        row = signal(kind=SignalKind.MANUAL_KICK, project=project, actor=actor)
        from .tasks import tick_project

        project_id = str(project.pk)
        transaction.on_commit(lambda: tick_project.delay(project_id))
    return row


def _eligible_agents(project: Any) -> list[User]:
    from apps.agents.selectors import live_access

    granted = live_access().filter(project=project, role__in=("contribute", "maintain")).values("agent_id")
    return list(
        User.objects.filter(pk__in=granted, is_ai=True, agent_status=User.AgentStatus.ACTIVE, network_id=project.network_id)
        .annotate(load=Count("task_claims", filter=Q(task_claims__status__in=(ClaimStatus.ACTIVE, ClaimStatus.SUBMITTED))))
    )  # fmt: skip


def _pass_rate(agent_id: Any) -> float:
    recent = list(
        TaskOutcome.objects.filter(submitted_by_id=agent_id)
        .order_by("-id")
        .values_list("status", flat=True)[:20]
    )
    if not recent:
        return 0.5
    return sum(1 for s in recent if s in (OutcomeStatus.ACCEPTED, OutcomeStatus.PASSED)) / len(recent)


def within_ai_budget(agent: Any) -> bool:
    """Billing's own budget checks, read-only (nothing reserved): the agent's daily AI budget
    (``agent_daily_budget_micros`` against ``agent_spent_today``) and the plan allowance of the
    account its calls are charged to (``check_plan_allowance`` with a zero estimate)."""
    from apps.billing.ai.errors import AIQuotaExceeded
    from apps.billing.services.ai import agent_spent_today
    from apps.billing.services.allowance import check_plan_allowance

    budget = agent.agent_daily_budget_micros
    if budget is not None and agent_spent_today(agent) >= budget:
        return False
    try:
        check_plan_allowance(user=agent, agent=agent, organization=agent.agent_owner_organization_id,
                             estimate_micros=0)  # fmt: skip
    except AIQuotaExceeded:
        return False
    return True


def _score(agent: User, task: RoadmapTask) -> float | None:
    caps = set(agent.agent_capabilities or [])
    needed = set(task.required_capabilities or [])
    if not needed <= caps:
        return None
    if agent.load >= (agent.agent_max_concurrent_claims or AGENT_DEFAULT_MAX_CLAIMS):
        return None  # at its claim budget
    return len(needed & caps) + agent.pass_rate - agent.load


def tick_project(project_id: Any) -> dict[str, Any] | None:
    """One tick: lock the state row (SKIP LOCKED — a tick already running wins), consume the
    pending signals, match ready tasks to eligible agents."""
    with transaction.atomic():
        state = (
            DispatcherState.objects.select_for_update(skip_locked=True)
            .select_related("project")
            .filter(project_id=project_id)
            .first()
        )
        if state is None:
            return None
        now = timezone.now()
        consumed = SignalLog.objects.filter(project_id=project_id, status=SignalStatus.PENDING).update(
            status=SignalStatus.PROCESSED if state.mode != DispatcherMode.OFF else SignalStatus.IGNORED,
            processed_at=now,
        )
        stats: dict[str, Any] = {"signals": consumed, "claimed": 0, "suggested": 0}
        if state.mode == DispatcherMode.OFF:
            return stats
        project = state.project
        active = TaskClaim.objects.filter(task__project=project, status__in=(ClaimStatus.ACTIVE,
                                          ClaimStatus.SUBMITTED)).count()  # fmt: skip
        capacity = max(0, state.max_active_claims - active)
        agents = _eligible_agents(project) if capacity else []
        # per agent, once per tick: its level (eligibility), pass rate, AI budget
        agents = [agent for agent in agents if within_ai_budget(agent)]
        for agent in agents:
            agent.level, agent.pass_rate = project_level(agent, project), _pass_rate(agent.pk)
        if capacity and agents:
            tasks = list(
                ready_tasks(RoadmapTask.objects.filter(project=project))
                .filter(
                    claimable_by__in=(ClaimableBy.AGENTS, ClaimableBy.ANYONE, ClaimableBy.PROJECT_MEMBERS)
                )
                .order_by("priority", F("due_at").asc(nulls_last=True), "created_at")
                .select_for_update(skip_locked=True, of=("self",))[
                    : min(capacity, settings.DISPATCHER_TICK_BATCH)
                ]
            )
            for task in tasks:
                scored = [(s, a) for a in agents if (s := _score(a, task)) is not None]
                if not scored:
                    continue
                scored.sort(key=lambda pair: -pair[0])
                agent = scored[0][1]
                if state.mode == DispatcherMode.AUTO:
                    try:
                        with transaction.atomic():
                            claim = _claim_one(actor=agent, task=task, level=agent.level,
                                               source=ClaimSource.DISPATCHER)  # fmt: skip
                            from apps.agents.services import request_agent_run

                            request_agent_run(agent=agent, trigger="dispatcher", project=project, task=task,
                                              instruction=f"Work on the task “{task.title}”. Lease token: "
                                              f"{claim.lease_token}\n\n{task.description}"[:8000])  # fmt: skip
                    except (InvalidState, PermissionDenied, NotFound, Conflict) as exc:
                        logger.info("dispatcher: %s not claimed for %s: %s", task.pk, agent.pk, exc.code)
                        continue
                    agent.load += 1
                    stats["claimed"] += 1
                else:
                    from apps.inbox.services import deliver_inbox_item

                    for maintainer in _maintainers(project):
                        deliver_inbox_item(
                            recipient=maintainer, kind="task_assigned", target_type="dispatcher.roadmaptask",
                            target_id=task.pk, title=f"Suggested: {agent.display_name} for {task.title}",
                            data={"suggested_agent": str(agent.pk), "suggestion": True}, requires_action=True,
                        )  # fmt: skip
                    stats["suggested"] += 1
        state.last_tick_at = now
        state.next_tick_at = now + timedelta(seconds=state.tick_interval_s)
        state.stats = {
            **(state.stats or {}),
            "last": stats,
            "ticks": int((state.stats or {}).get("ticks", 0)) + 1,
        }
        state.last_error = ""
        state.save(update_fields=["last_tick_at", "next_tick_at", "stats", "last_error", "updated_at"])
        return stats


def due_states() -> list[Any]:
    now = timezone.now()
    return list(
        DispatcherState.objects.exclude(mode=DispatcherMode.OFF)
        .filter(Q(next_tick_at__lte=now) | Q(next_tick_at__isnull=True))
        .values_list("project_id", flat=True)[:1000]
    )
