"""Tool calls: request → (approval) → exactly-once execution → append-only log → guarded result.

``request_tool_call`` (agents' tool-calls path and ``POST /agents/{id}/tool-executions/``):

1. the agent must be active; the call needs an enabled, unexpired grant
   whose allowlist names the tool, on an active connection, within the
   grant's daily limit (a Redis counter per grant and UTC day) — otherwise a
   ``denied`` log row and 403 ``tool_not_granted`` / 429 ``tool_daily_limit``;
2. every call is one ``PendingToolExecution`` (unique per agent and
   idempotency key: a repeated call returns the same row);
3. approval is needed for policy ``always``, for ``writes`` with a write or
   destructive tool, when the agent's or the connection's organization sets
   ``require_tool_approval``, or when the agent's autonomy is not
   ``autonomous`` → ``pending`` + an inbox ``tool_approval`` item to the
   connection's user, 24 h to decide;
4. otherwise ``approved`` and executed: now (the API: 200 with the result)
   or by Celery on commit (a run inside its transaction).

``approve`` locks the row: only ``pending`` and unexpired moves, only the
connection's user (or ``org.tools.approve`` on a shared connection) may
decide, and the stored arguments must still hash to ``arguments_hash`` (and
to the hash the approver saw, when sent) — else 409 and nothing runs.
``execute_pending`` claims ``approved → executing`` by a conditional update:
ten concurrent approvals or a redelivered Celery message call the provider
once. A worker that dies mid-call leaves ``executing``; the reaper
(``reap_stale_executions``) marks it ``failed`` without calling again.
Tool output is untrusted: it passes the prompt guard (``tool_output``) and
a blocked output is withheld from the agent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.core.exceptions import (
    Conflict,
    DomainError,
    InvalidState,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from apps.core.redis import get_redis, key

from .. import catalog
from ..connectors import ConnectorError, ConnectorTimeout, connector_for, result_json
from ..models import AgentIntegration, PendingToolExecution, ToolExecutionLog, UserIntegration
from .connections import can_decide_connection

logger = logging.getLogger(__name__)

Status = PendingToolExecution.Status
_SECRET_WORDS = ("token", "secret", "password", "passwd", "key", "auth", "cookie", "credential", "session")
MAX_ARGUMENT_BYTES = 32 * 1024


def arguments_hash(tool: str, arguments: Any) -> str:
    canonical = json.dumps(
        {"tool": tool, "arguments": arguments}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def redact(value: Any, depth: int = 0) -> Any:
    """Arguments as logged: secret-looking keys masked, long strings cut, depth bounded."""
    if depth > 6:
        return "…"
    if isinstance(value, dict):
        return {
            str(k)[:100]: "***" if any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v, depth + 1)
            for k, v in list(value.items())[:100]
        }
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:100]]
    if isinstance(value, str) and len(value) > 1000:
        return value[:1000] + "…"
    return value


@dataclass
class ToolCallOutcome:
    execution: PendingToolExecution

    @property
    def is_pending(self) -> bool:
        return self.execution.status in (Status.PENDING, Status.APPROVED, Status.EXECUTING)


def _log(
    *,
    agent: Any,
    tool: str,
    arguments: Any,
    status: str,
    grant: AgentIntegration | None = None,
    execution: PendingToolExecution | None = None,
    error: str = "",
    result: Any = None,
    duration_ms: int = 0,
    external_id: str | None = None,
) -> ToolExecutionLog:
    integration = grant.user_integration if grant is not None else None
    return ToolExecutionLog.objects.create(
        network_id=agent.network_id,
        agent=agent,
        user_id=integration.user_id if integration is not None else None,
        user_integration=integration,
        agent_integration=grant,
        pending_execution=execution,
        tool=tool[:128],
        arguments_redacted=redact(arguments),
        status=status,
        result=result,
        error=error[:4000],
        duration_ms=duration_ms,
        external_execution_id=external_id,
    )


def _deny(agent: Any, tool: str, arguments: Any, error: DomainError, grant: Any = None) -> DomainError:
    _log(agent=agent, tool=tool, arguments=arguments, status=ToolExecutionLog.Status.DENIED, grant=grant,
         error=f"{error.code}: {error.message}")  # fmt: skip
    return error


def live_grants(agent: Any) -> Any:
    now = timezone.now()
    return (
        AgentIntegration.objects.filter(
            agent_id=agent.pk, enabled=True, user_integration__status=UserIntegration.Status.ACTIVE
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("user_integration", "user_integration__organization")
        .order_by("id")
    )


def _grant_for(agent: Any, tool: str) -> AgentIntegration | None:
    return live_grants(agent).filter(allowed_tools__contains=[tool]).first()


def _count_call(grant: AgentIntegration) -> bool:
    """Count one call on the grant's day; False when it is over the daily limit."""
    day = timezone.now().date().isoformat()
    counter = key("integrations", "calls", grant.pk, day)
    pipe = get_redis().pipeline()
    pipe.incr(counter)
    pipe.expire(counter, 2 * 86400)
    count, _ = pipe.execute()
    return int(count) <= grant.daily_limit


def _org_requires_approval(agent: Any, integration: UserIntegration) -> bool:
    from apps.organizations.models import OrganizationSecurityPolicy

    orgs = [o for o in (agent.agent_owner_organization_id, integration.organization_id) if o]
    return (
        bool(orgs)
        and OrganizationSecurityPolicy.objects.filter(
            organization_id__in=orgs, require_tool_approval=True
        ).exists()
    )


def needs_approval(*, agent: Any, grant: AgentIntegration, risk: str, require_approval: bool = False) -> bool:
    if require_approval or agent.agent_autonomy != User.AgentAutonomy.AUTONOMOUS:
        return True
    if grant.approval_policy == AgentIntegration.Policy.ALWAYS:
        return True
    if grant.approval_policy == AgentIntegration.Policy.WRITES and risk != "read":
        return True
    return _org_requires_approval(agent, grant.user_integration)


def request_tool_call(
    *,
    agent: Any,
    tool: str,
    arguments: Any,
    justification: str = "",
    idempotency_key: str | None = None,
    context: dict[str, Any] | None = None,
    require_approval: bool = False,
    execute_now: bool = True,
) -> ToolCallOutcome:
    """See the module docstring. Not atomic on purpose: a denied call's log row stays."""
    if not isinstance(tool, str) or not tool or len(tool) > 128:
        raise ValidationFailed("Name the tool.", field="tool")
    if not isinstance(arguments, dict):
        raise ValidationFailed("Arguments are a JSON object.", field="arguments")
    if len(json.dumps(arguments, default=str)) > MAX_ARGUMENT_BYTES:
        raise ValidationFailed("The arguments are too large.", field="arguments")
    idempotency_key = (idempotency_key or str(uuid.uuid4()))[:200]
    existing = PendingToolExecution.objects.filter(agent_id=agent.pk, idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.tool != tool or existing.arguments_hash != arguments_hash(tool, arguments):
            raise Conflict("This idempotency key was used for another call.", code="idempotency_key_reused")
        return ToolCallOutcome(existing)
    if agent.agent_status != User.AgentStatus.ACTIVE:
        raise _deny(
            agent,
            tool,
            arguments,
            InvalidState(f"The agent is {agent.agent_status}.", code="agent_not_active"),
        )
    grant = _grant_for(agent, tool)
    if grant is None:
        raise _deny(agent, tool, arguments, PermissionDenied(
            "The agent has no enabled grant allowing this tool.", code="tool_not_granted"))  # fmt: skip
    if not _count_call(grant):
        raise _deny(agent, tool, arguments, RateLimited(
            "The grant's daily limit is reached.", code="tool_daily_limit"), grant)  # fmt: skip
    spec = catalog.tool(grant.user_integration.toolkit, tool)
    risk = spec.risk if spec is not None else "write"
    pending = needs_approval(agent=agent, grant=grant, risk=risk, require_approval=require_approval)
    now = timezone.now()
    execution = PendingToolExecution(
        network_id=agent.network_id,
        agent_id=agent.pk,
        agent_integration=grant,
        approver_id=grant.user_integration.user_id,
        tool=tool,
        arguments=arguments,
        arguments_hash=arguments_hash(tool, arguments),
        risk=risk,
        justification=(justification or "")[:4000],
        context=context or {},
        status=Status.PENDING if pending else Status.APPROVED,
        decided_at=None if pending else now,
        expires_at=now + timedelta(hours=settings.INTEGRATIONS_APPROVAL_HOURS),
        idempotency_key=idempotency_key,
    )
    try:
        with transaction.atomic():
            execution.save()
            if pending:
                _ask_for_approval(agent, execution, grant)
    except IntegrityError:  # the same key, concurrently
        return ToolCallOutcome(
            PendingToolExecution.objects.get(agent_id=agent.pk, idempotency_key=idempotency_key)
        )
    if not pending:
        if execute_now:  # callers outside a transaction (the API): the provider call holds no lock
            return ToolCallOutcome(execute_pending(execution_id=execution.pk))
        _enqueue(execution.pk)
    return ToolCallOutcome(execution)


def _ask_for_approval(agent: Any, execution: PendingToolExecution, grant: AgentIntegration) -> None:
    from apps.inbox.services import deliver_inbox_item

    deliver_inbox_item(
        recipient=grant.user_integration.user,
        kind="tool_approval",
        target_type="tool_execution",
        target_id=execution.pk,
        actor=agent,
        title=f"{agent.display_name or agent.handle} wants to run {execution.tool}",
        body=(execution.justification or json.dumps(redact(execution.arguments), default=str))[:1000],
        target_url=f"/api/v1/pending-tool-executions/{execution.pk}/",
        data={
            "execution": str(execution.pk),
            "agent": str(agent.pk),
            "tool": execution.tool,
            "risk": execution.risk,
            "arguments_hash": execution.arguments_hash,
            "expires_at": execution.expires_at.isoformat(),
        },
        requires_action=True,
    )


def _enqueue(execution_id: Any) -> None:
    from ..tasks import execute_tool

    transaction.on_commit(lambda: execute_tool.delay(str(execution_id)))


def _close_item(execution: PendingToolExecution, state: str = "done") -> None:
    from apps.inbox.services import close_action_items

    close_action_items(
        kind="tool_approval", target_type="tool_execution", target_id=execution.pk, state=state
    )


def _can_decide(actor: Any, execution: PendingToolExecution) -> bool:
    if actor is None or getattr(actor, "is_ai", False):
        return False
    return execution.approver_id == actor.pk or can_decide_connection(
        actor, execution.agent_integration.user_integration
    )


def approve(
    *, actor: Any, execution: PendingToolExecution, arguments_hash_seen: str | None = None, note: str = ""
) -> PendingToolExecution:
    """pending → approved (see the module docstring); execution follows in Celery, on commit."""
    expired = tampered = False
    with transaction.atomic():
        row = (
            PendingToolExecution.objects.select_for_update(of=("self",))
            .select_related("agent_integration__user_integration")
            .filter(pk=execution.pk)
            .first()
        )
        if row is None or not _can_decide(actor, row):
            raise NotFound()
        if row.status != Status.PENDING:
            raise InvalidState(f"This call is {row.status}.")
        now = timezone.now()
        if row.expires_at <= now:
            row.status, row.updated_at = Status.EXPIRED, now
            row.save(update_fields=["status", "updated_at"])
            _close_item(row, "dismissed")
            expired = True
        elif arguments_hash(row.tool, row.arguments) != row.arguments_hash:
            row.status, row.decided_by, row.decided_at, row.updated_at = Status.FAILED, actor, now, now
            row.error = "The arguments changed after the request (hash mismatch); not executed."
            row.save(update_fields=["status", "decided_by", "decided_at", "error", "updated_at"])
            _log(agent=row.agent, tool=row.tool, arguments=row.arguments, status=ToolExecutionLog.Status.DENIED,
                 grant=row.agent_integration, execution=row, error="arguments_tampered")  # fmt: skip
            _close_item(row, "dismissed")
            tampered = True
        else:
            if arguments_hash_seen is not None and arguments_hash_seen != row.arguments_hash:
                raise Conflict(
                    "These are not the arguments you reviewed; reload the request.",
                    code="arguments_hash_mismatch",
                )
            row.status, row.decided_by, row.decided_at = Status.APPROVED, actor, now
            row.decision_note, row.updated_at = (note or "")[:2000], now
            row.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
            _close_item(row)
            _enqueue(row.pk)
    if expired:
        raise InvalidState("This request expired.", code="approval_expired")
    if tampered:
        raise Conflict("The arguments changed after the request; nothing was run.", code="arguments_tampered")
    return row


def _decide(
    actor: Any, execution: PendingToolExecution, *, to: str, note: str, agent_side: bool
) -> PendingToolExecution:
    with transaction.atomic():
        row = (
            PendingToolExecution.objects.select_for_update(of=("self",))
            .select_related("agent_integration__user_integration", "agent")
            .filter(pk=execution.pk)
            .first()
        )
        if row is None:
            raise NotFound()
        from apps.agents.selectors import can_manage_agent

        allowed = _can_decide(actor, row) or (
            agent_side and (can_manage_agent(actor, row.agent) or getattr(actor, "pk", None) == row.agent_id)
        )
        if not allowed:
            raise NotFound()
        if row.status != Status.PENDING:
            raise InvalidState(f"This call is {row.status}.")
        now = timezone.now()
        row.status, row.decided_by, row.decided_at, row.updated_at = to, actor, now, now
        row.decision_note = (note or "")[:2000]
        row.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
        _close_item(row, "dismissed")
    return row


def reject(*, actor: Any, execution: PendingToolExecution, note: str = "") -> PendingToolExecution:
    return _decide(actor, execution, to=Status.REJECTED, note=note, agent_side=False)


def cancel(*, actor: Any, execution: PendingToolExecution, note: str = "") -> PendingToolExecution:
    """The agent (or whoever manages it) withdraws its request; the approver may cancel too."""
    return _decide(actor, execution, to=Status.CANCELLED, note=note, agent_side=True)


def visible_executions_q(user: Any) -> Q:
    """Tool calls a user sees: theirs to approve, those of agents they manage, their own (as the agent)."""
    from apps.agents.selectors import manageable_agents_q

    return Q(approver_id=user.pk) | manageable_agents_q(user, prefix="agent__") | Q(agent_id=user.pk)


def visible_logs_q(user: Any) -> Q:
    """Log rows a user sees: on their connections, of agents they manage, their own (as the agent)."""
    from apps.agents.selectors import manageable_agents_q

    return Q(user_id=user.pk) | manageable_agents_q(user, prefix="agent__") | Q(agent_id=user.pk)


def close_by_staff(*, actor: Any, execution: PendingToolExecution, to: str) -> bool:
    """Staff expire or cancel a pending call from the admin; False when it was no longer pending."""
    if to not in (Status.EXPIRED, Status.CANCELLED) or not getattr(actor, "is_staff", False):
        raise ValidationFailed("Staff may expire or cancel a pending call.")
    now = timezone.now()
    with transaction.atomic():
        moved = PendingToolExecution.objects.filter(pk=execution.pk, status=Status.PENDING).update(
            status=to, decided_by=actor, decided_at=now, decision_note=f"staff: {to}", updated_at=now
        )
        if moved:
            _close_item(execution, "dismissed")
    return bool(moved)


def _finish(execution_id: Any, **fields: Any) -> None:
    now = timezone.now()
    PendingToolExecution.objects.filter(pk=execution_id, status=Status.EXECUTING).update(
        finished_at=now, updated_at=now, **fields
    )


def _guarded(execution: PendingToolExecution, data: Any) -> Any:
    from apps.agents import guard

    text = data if isinstance(data, str) else json.dumps(data, default=str, ensure_ascii=False)
    verdict = guard.screen(text[: settings.AGENT_GUARD_MAX_INPUT_CHARS], source="tool_output",
                           network=execution.network_id, agent=execution.agent, source_ref=f"tool_execution:{execution.pk}")  # fmt: skip
    if verdict.is_blocked:
        return {"withheld": True, "reason": "The tool's output was blocked by the prompt guard.",
                "categories": verdict.categories}  # fmt: skip
    return data


def execute_pending(*, execution_id: Any) -> PendingToolExecution:
    """approved → executing → executed / failed, once (conditional claim); the provider is called outside any transaction."""
    now = timezone.now()
    claimed = PendingToolExecution.objects.filter(pk=execution_id, status=Status.APPROVED).update(
        status=Status.EXECUTING, executing_at=now, updated_at=now
    )
    row = PendingToolExecution.objects.select_related("agent", "agent_integration__user_integration").get(
        pk=execution_id
    )
    if not claimed:
        return row  # someone else ran it (or it is not approved): never a second call
    grant = row.agent_integration
    integration = grant.user_integration
    if arguments_hash(row.tool, row.arguments) != row.arguments_hash:
        _log(agent=row.agent, tool=row.tool, arguments=row.arguments, status=ToolExecutionLog.Status.DENIED,
             grant=grant, execution=row, error="arguments_tampered")  # fmt: skip
        _finish(row.pk, status=Status.FAILED, error="The arguments changed after approval; not executed.")
        row.refresh_from_db()
        return row
    live = live_grants(row.agent).filter(pk=grant.pk, allowed_tools__contains=[row.tool]).exists()
    if not live or row.agent.agent_status != User.AgentStatus.ACTIVE:
        _log(agent=row.agent, tool=row.tool, arguments=row.arguments, status=ToolExecutionLog.Status.DENIED,
             grant=grant, execution=row, error="tool_not_granted: the grant or connection is no longer live")  # fmt: skip
        _finish(row.pk, status=Status.FAILED, error="The grant or connection is no longer live.")
        row.refresh_from_db()
        return row
    started = time.monotonic()
    try:
        output = connector_for(integration).execute(integration, row.tool, row.arguments)
    except ConnectorTimeout as exc:
        status, error, output = ToolExecutionLog.Status.TIMEOUT, exc.message, None
    except ConnectorError as exc:
        status, error, output = ToolExecutionLog.Status.ERROR, f"{exc.code}: {exc.message}", None
    duration = int((time.monotonic() - started) * 1000)
    if output is None:
        _log(agent=row.agent, tool=row.tool, arguments=row.arguments, status=status, grant=grant,
             execution=row, error=error, duration_ms=duration)  # fmt: skip
        UserIntegration.objects.filter(pk=integration.pk).update(last_error=error[:2000])
        _finish(row.pk, status=Status.FAILED, error=error)
    else:
        result, _cut = result_json(_guarded(row, output.data), settings.INTEGRATIONS_MAX_RESULT_BYTES)
        with transaction.atomic():
            _log(agent=row.agent, tool=row.tool, arguments=row.arguments, status=ToolExecutionLog.Status.SUCCESS,
                 grant=grant, execution=row, result=result, duration_ms=duration, external_id=output.external_id)  # fmt: skip
            _finish(row.pk, status=Status.EXECUTED, result=result)
            UserIntegration.objects.filter(pk=integration.pk).update(
                last_used_at=timezone.now(), last_error=""
            )
    row.refresh_from_db()
    return row


def expire_pending(*, now: Any = None) -> int:
    now = now or timezone.now()
    rows = list(
        PendingToolExecution.objects.filter(status=Status.PENDING, expires_at__lte=now).values_list(
            "pk", flat=True
        )[:1000]
    )
    done = 0
    for pk in rows:
        with transaction.atomic():
            if PendingToolExecution.objects.filter(pk=pk, status=Status.PENDING).update(
                status=Status.EXPIRED, updated_at=now
            ):
                close = PendingToolExecution(pk=pk)
                _close_item(close, "dismissed")
                done += 1
    return done


def reap_stale_executions(*, now: Any = None) -> int:
    """``executing`` past the stale window (a worker died mid-call): ``failed``, logged, never re-called."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.INTEGRATIONS_EXECUTING_STALE_MINUTES)
    reaped = 0
    for row in PendingToolExecution.objects.filter(
        status=Status.EXECUTING, executing_at__lt=cutoff
    ).select_related("agent", "agent_integration__user_integration")[:1000]:
        with transaction.atomic():
            won = PendingToolExecution.objects.filter(pk=row.pk, status=Status.EXECUTING).update(
                status=Status.FAILED, finished_at=now, updated_at=now,
                error="The worker stopped during the call; not retried (the provider may have run it once).",
            )  # fmt: skip
            if won:
                _log(agent=row.agent, tool=row.tool, arguments=row.arguments, status=ToolExecutionLog.Status.ERROR,
                     grant=row.agent_integration, execution=row, error="interrupted: the worker stopped during the call")  # fmt: skip
                reaped += 1
    return reaped


def purge_logs(*, now: Any = None) -> int:
    from django.db import connection

    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.INTEGRATIONS_LOG_RETENTION_DAYS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL integrations.purge = 'on'")
        return ToolExecutionLog.objects.filter(created_at__lt=cutoff).delete()[0]


# --- the agents' seam ------------------------------------------------------------------


def agent_tools(*, agent: Any) -> list[dict[str, Any]]:
    """OpenAI function specs of the tools the agent's live grants allow (``run_agent`` offers them)."""
    out: dict[str, dict[str, Any]] = {}
    for grant in live_grants(agent):
        for slug in grant.allowed_tools:
            if slug in out or slug == "remember":
                continue
            spec = catalog.tool(grant.user_integration.toolkit, slug)
            out[slug] = (
                spec or catalog.Tool(slug=slug, toolkit=grant.user_integration.toolkit)
            ).as_function()
    return list(out.values())


def propose_tool_calls(
    *, agent: Any, run: Any, tool_calls: list[dict[str, Any]], require_approval: bool
) -> list[dict[str, Any]]:
    """A run's proposed calls → ``request_tool_call`` each (queued for Celery, or sent for approval).

    Called inside the run's transaction: nothing is executed here; refusals are logged and reported.
    """
    outcomes = []
    for index, call in enumerate(tool_calls):
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        try:
            with transaction.atomic():
                done = request_tool_call(
                    agent=agent, tool=str(call.get("name") or ""), arguments=arguments,
                    justification=f"Proposed by run {run.pk}.", idempotency_key=f"run:{run.pk}:{call.get('id') or index}",
                    context={"run": str(run.pk)}, require_approval=require_approval, execute_now=False,
                )  # fmt: skip
            outcomes.append(
                {
                    "tool": call.get("name"),
                    "execution": str(done.execution.pk),
                    "status": done.execution.status,
                }
            )
        except DomainError as exc:
            # the denied log was written inside the savepoint that rolled back: write it again outside it
            _log(agent=agent, tool=str(call.get("name") or "?"), arguments=arguments,
                 status=ToolExecutionLog.Status.DENIED, error=f"{exc.code}: {exc.message}")  # fmt: skip
            outcomes.append({"tool": call.get("name"), "status": "denied", "code": exc.code})
    return outcomes
