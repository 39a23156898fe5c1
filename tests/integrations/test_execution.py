"""Tool calls through grants: refusals are logged ``denied``, approvals run exactly the stored arguments once,
the log is append-only, tool output is guarded."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.core.exceptions import Conflict, InvalidState, NotFound, PermissionDenied, RateLimited
from apps.inbox.models import InboxItem
from apps.integrations.models import PendingToolExecution, ToolExecutionLog
from apps.integrations.services import (
    approve,
    cancel,
    execute_pending,
    expire_pending,
    purge_logs,
    reap_stale_executions,
    reject,
    request_tool_call,
)
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory

from .factories import AgentIntegrationFactory, UserIntegrationFactory, github_grant, http_grant

pytestmark = pytest.mark.django_db


def _call(grant, tool="GITHUB_CREATE_ISSUE", arguments=None, **kwargs):
    return request_tool_call(agent=grant.agent, tool=tool, arguments=arguments or {"title": "Bug"}, **kwargs)


def test_a_call_without_a_grant_is_denied_and_logged(user, saas):
    grant = github_grant(user)
    with pytest.raises(PermissionDenied) as exc:
        _call(grant, tool="GITHUB_DELETE_REPO")  # not on the allowlist
    assert exc.value.code == "tool_not_granted"
    log = ToolExecutionLog.objects.get()
    assert (log.status, log.tool, log.agent_id) == ("denied", "GITHUB_DELETE_REPO", grant.agent_id)
    assert saas.executions() == 0


@pytest.mark.parametrize(
    "change",
    [{"enabled": False}, {"expires_at": timezone.now() - timedelta(minutes=1)}],
    ids=["disabled", "expired"],
)
def test_a_disabled_or_expired_grant_is_denied(user, saas, change):
    grant = github_grant(user)
    type(grant).objects.filter(pk=grant.pk).update(**change)
    with pytest.raises(PermissionDenied):
        _call(grant)
    assert ToolExecutionLog.objects.get().status == "denied" and saas.executions() == 0


def test_a_revoked_connection_is_denied(user, saas):
    grant = github_grant(user)
    type(grant.user_integration).objects.filter(pk=grant.user_integration_id).update(status="revoked")
    with pytest.raises(PermissionDenied):
        _call(grant)


def test_over_the_daily_limit_is_denied(user, saas):
    grant = github_grant(user, daily_limit=2)
    _call(grant, idempotency_key="a")
    _call(grant, idempotency_key="b")
    with pytest.raises(RateLimited) as exc:
        _call(grant, idempotency_key="c")
    assert exc.value.code == "tool_daily_limit"
    assert saas.calls["GITHUB_CREATE_ISSUE"] == 2
    assert list(ToolExecutionLog.objects.order_by("id").values_list("status", flat=True)) == [
        "success",
        "success",
        "denied",
    ]


def test_policy_never_runs_now_and_logs_redacted_input(user, saas):
    grant = github_grant(user)
    outcome = _call(grant, arguments={"title": "Bug", "api_token": "ghp_secret"})
    execution = outcome.execution
    assert execution.status == "executed" and not outcome.is_pending
    assert execution.result["number"] == 42
    log = ToolExecutionLog.objects.get()
    assert log.status == "success" and log.arguments_redacted == {"title": "Bug", "api_token": "***"}
    assert log.external_execution_id and log.user_integration_id == grant.user_integration_id
    assert saas.requests[-1]["body"]["connected_account_id"] == grant.user_integration.external_account_id


def test_the_same_idempotency_key_runs_once(user, saas):
    grant = github_grant(user)
    first = _call(grant, idempotency_key="k1")
    again = _call(grant, idempotency_key="k1")
    assert first.execution.pk == again.execution.pk and saas.executions() == 1
    with pytest.raises(Conflict):
        _call(grant, idempotency_key="k1", arguments={"title": "Other"})


@pytest.mark.parametrize(
    ("policy", "tool", "pending"),
    [
        ("writes", "GITHUB_CREATE_ISSUE", True),
        ("writes", "GITHUB_LIST_ISSUES", False),
        ("always", "GITHUB_LIST_ISSUES", True),
        ("never", "GITHUB_CREATE_ISSUE", False),
    ],
)
def test_approval_policy(user, saas, policy, tool, pending):
    grant = github_grant(user, approval_policy=policy)
    outcome = _call(grant, tool=tool)
    assert outcome.is_pending is pending
    assert saas.executions() == (0 if pending else 1)


def test_approval_autonomy_and_org_policy_require_approval(user, saas):
    grant = github_grant(user, agent__agent_autonomy="approval")
    assert _call(grant, tool="GITHUB_LIST_ISSUES").is_pending
    org = OrganizationFactory(network=user.network, owner=user)
    type(org.security_policy).objects.filter(pk=org.security_policy.pk).update(require_tool_approval=True)
    grant2 = AgentIntegrationFactory(user_integration=UserIntegrationFactory(user=user, organization=org))
    assert _call(grant2, tool="GITHUB_LIST_ISSUES").is_pending


def test_a_pending_call_asks_the_connection_owner_and_approval_runs_it_once(
    user, saas, django_capture_on_commit_callbacks
):
    grant = github_grant(user, approval_policy="always")
    with django_capture_on_commit_callbacks(execute=True):
        execution = _call(grant, justification="File the bug the user reported.").execution
    item = InboxItem.objects.get(recipient=user, kind="tool_approval")
    assert item.requires_action and item.action_state == "pending" and item.target_id == execution.pk
    assert item.data["arguments_hash"] == execution.arguments_hash
    with django_capture_on_commit_callbacks(execute=True):
        approve(actor=user, execution=execution, arguments_hash_seen=execution.arguments_hash)
    execution.refresh_from_db()
    assert execution.status == "executed" and saas.executions() == 1
    item.refresh_from_db()
    assert item.action_state == "done"
    with pytest.raises(InvalidState):
        approve(actor=user, execution=execution)
    assert saas.executions() == 1


def test_approval_by_someone_else_is_404(user, saas):
    execution = _call(github_grant(user, approval_policy="always")).execution
    with pytest.raises(NotFound):
        approve(actor=UserFactory(network=user.network), execution=execution)
    with pytest.raises(NotFound):
        approve(
            actor=execution.agent, execution=execution
        )  # an agent never approves (its own calls least of all)


def test_org_admins_may_approve_calls_on_org_shared_connections(user, saas):
    org = OrganizationFactory(network=user.network, owner=user)
    integration = UserIntegrationFactory(user=UserFactory(network=user.network), organization=org)
    execution = _call(
        AgentIntegrationFactory(user_integration=integration, approval_policy="always")
    ).execution
    approve(actor=user, execution=execution)
    execution.refresh_from_db()
    assert execution.status in ("approved", "executed")


def test_an_expired_request_cannot_be_approved(user, saas):
    execution = _call(github_grant(user, approval_policy="always")).execution
    PendingToolExecution.objects.filter(pk=execution.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(InvalidState) as exc:
        approve(actor=user, execution=execution)
    assert exc.value.code == "approval_expired"
    execution.refresh_from_db()
    assert execution.status == "expired" and saas.executions() == 0


def test_tampered_arguments_are_refused(user, saas):
    execution = _call(github_grant(user, approval_policy="always")).execution
    PendingToolExecution.objects.filter(pk=execution.pk).update(arguments={"title": "Delete everything"})
    with pytest.raises(Conflict) as exc:
        approve(actor=user, execution=execution)
    assert exc.value.code == "arguments_tampered"
    execution.refresh_from_db()
    assert execution.status == "failed" and saas.executions() == 0
    assert ToolExecutionLog.objects.get(pending_execution=execution).error == "arguments_tampered"


def test_approving_with_a_hash_you_did_not_see_is_409_and_changes_nothing(user, saas):
    execution = _call(github_grant(user, approval_policy="always")).execution
    with pytest.raises(Conflict):
        approve(actor=user, execution=execution, arguments_hash_seen="0" * 64)
    execution.refresh_from_db()
    assert execution.status == "pending"


def test_reject_cancel_and_expire(user, saas):
    grant = github_grant(user, approval_policy="always")
    rejected = _call(grant, idempotency_key="r").execution
    cancelled = _call(grant, idempotency_key="c").execution
    stale = _call(grant, idempotency_key="e").execution
    reject(actor=user, execution=rejected, note="no")
    cancel(actor=grant.agent, execution=cancelled)
    PendingToolExecution.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_pending() == 1
    statuses = dict(PendingToolExecution.objects.values_list("idempotency_key", "status"))
    assert statuses == {"r": "rejected", "c": "cancelled", "e": "expired"}
    with pytest.raises(InvalidState):
        approve(actor=user, execution=rejected)
    assert saas.executions() == 0


def test_a_grant_disabled_after_approval_stops_the_execution(user, saas):
    grant = github_grant(user, approval_policy="always")
    execution = _call(grant).execution
    approve(actor=user, execution=execution)  # eager Celery would run it: do the check by hand below
    PendingToolExecution.objects.filter(pk=execution.pk).update(status="approved")
    type(grant).objects.filter(pk=grant.pk).update(enabled=False)
    saas.reset()
    assert execute_pending(execution_id=execution.pk).status == "failed"
    assert saas.executions() == 0


@pytest.mark.parametrize(
    ("mode", "log_status"),
    [("fail", "error"), ("garbage", "error"), ("http500", "error"), ("slow", "timeout")],
)
def test_provider_failures_fail_the_call_and_are_logged(user, saas, settings, mode, log_status):
    settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS = 0.5
    saas.mode, saas.delay = mode, 3
    execution = _call(github_grant(user)).execution
    assert execution.status == "failed"
    log = ToolExecutionLog.objects.get()
    assert log.status == log_status and log.error


def test_tool_output_passes_the_guard_before_the_agent_sees_it(user, saas):
    from apps.agents.models import PromptGuardLog

    saas.mode = "inject"
    execution = _call(github_grant(user)).execution
    assert execution.status == "executed"
    assert execution.result["withheld"] is True
    assert "Ignore all previous" not in str(ToolExecutionLog.objects.get().result)
    assert PromptGuardLog.objects.get(source="tool_output").verdict == "blocked"


def test_the_log_is_append_only(user, saas):
    _call(github_grant(user))
    log = ToolExecutionLog.objects.get()
    for statement in (
        lambda: ToolExecutionLog.objects.filter(pk=log.pk).update(status="denied"),
        lambda: ToolExecutionLog.objects.filter(pk=log.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            statement()
    log.refresh_from_db()
    assert log.status == "success"


def test_purge_removes_only_rows_past_retention(user, saas):
    _call(github_grant(user))
    with connection.cursor() as cursor:  # age the row: the trigger refuses any UPDATE, so lift it here
        cursor.execute("SET session_replication_role = replica")
        ToolExecutionLog.objects.update(created_at=timezone.now() - timedelta(days=91))
        cursor.execute("SET session_replication_role = origin")
    _call(github_grant(user), idempotency_key="new")
    assert purge_logs() == 1
    assert ToolExecutionLog.objects.count() == 1


def test_the_reaper_resolves_a_stuck_execution_without_calling_again(user, saas, settings):
    execution = _call(github_grant(user, approval_policy="always")).execution
    PendingToolExecution.objects.filter(pk=execution.pk).update(
        status="executing",
        executing_at=timezone.now() - timedelta(minutes=settings.INTEGRATIONS_EXECUTING_STALE_MINUTES + 1),
    )
    assert reap_stale_executions() == 1
    execution.refresh_from_db()
    assert execution.status == "failed" and saas.executions() == 0
    assert ToolExecutionLog.objects.get(pending_execution=execution).status == "error"
    assert execute_pending(execution_id=execution.pk).status == "failed" and saas.executions() == 0


def test_http_connector_calls_the_allowlisted_endpoint_with_its_token(user, saas):
    grant = http_grant(user, f"{saas.url}/saas/v1")
    out = _call(grant, tool="HTTP_GET", arguments={"path": "/items", "query": {"q": "x"}}).execution
    assert out.status == "executed"
    assert out.result["body"]["path"] == "/saas/v1/items" and out.result["body"]["authorized"] is True
    bad = _call(grant, tool="HTTP_GET", arguments={"path": "/../../admin"}, idempotency_key="bad").execution
    assert bad.status == "failed" and "tool_bad_arguments" in bad.error


def test_http_connector_refuses_private_addresses_after_resolution(user, saas, settings):
    grant = http_grant(user, f"{saas.url.replace('127.0.0.1', 'localhost')}/saas")
    settings.INTEGRATIONS_ALLOW_PRIVATE_URLS = False  # the production rule: localhost resolves to loopback
    out = _call(grant, tool="HTTP_GET", arguments={"path": "/x"}).execution
    assert out.status == "failed" and "url_private" in out.error
    assert saas.calls["saas GET"] == 0


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_approvals_run_the_tool_once(user, saas, settings):
    from django.db import connections

    grant = github_grant(user, approval_policy="always")
    execution = _call(grant).execution
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def approve_once():
        try:
            barrier.wait(5)
            approve(actor=user, execution=execution)
            outcomes.append("approved")
        except InvalidState:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve_once) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["approved"] + ["conflict"] * 9
    execution.refresh_from_db()
    assert execution.status == "executed"
    assert saas.executions() == 1
    assert ToolExecutionLog.objects.filter(pending_execution=execution, status="success").count() == 1
