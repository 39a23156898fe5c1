"""The ci_status and command check runners, against local servers that answer like the real
ones: GitHub's combined commit status API, and the external sandbox provider (signed exec)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.core.exceptions import ValidationFailed
from apps.dispatcher import services
from apps.dispatcher.models import TaskClaim, VerificationRun
from apps.projects import signing
from tests.projects.factories import ProjectFactory, SandboxFactory

from .factories import OutcomeCheckFactory, RoadmapTaskFactory

pytestmark = pytest.mark.django_db

SHA = "0123456789abcdef0123456789abcdef01234567"


class _GitHub(BaseHTTPRequestHandler):
    """``GET /repos/{o}/{r}/commits/{sha}/status`` and ``GET /repos/{o}/{r}/pulls/{n}``."""

    state = "success"
    statuses: list = []
    code = 200
    body: bytes | None = None
    seen: list = []

    def do_GET(self):  # noqa: N802
        cls = type(self)
        cls.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/repos/colony/example/pulls/7"):
            payload = {"number": 7, "head": {"sha": SHA}}
        elif self.path == f"/repos/colony/example/commits/{SHA}/status":
            payload = {
                "state": cls.state,
                "sha": SHA,
                "total_count": len(cls.statuses),
                "statuses": cls.statuses,
            }
        else:
            payload, cls_code = {"message": "Not Found"}, 404
            return self._send(cls_code, json.dumps(payload).encode())
        self._send(cls.code, cls.body if cls.body is not None else json.dumps(payload).encode())

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def github(settings):
    _GitHub.state, _GitHub.code, _GitHub.body, _GitHub.seen = "success", 200, None, []
    _GitHub.statuses = [{"context": "ci/test", "state": "success", "description": "42 passed"}]
    settings.DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _submitted(user, *, kind, config, artifacts=None, timeout_s=900):
    project = ProjectFactory(owner_user=user)
    task = RoadmapTaskFactory(project=project)
    OutcomeCheckFactory(task=task, kind=kind, config=config, timeout_s=timeout_s)
    claim = services.claim_task(actor=user, task=task)
    outcome = services.submit_outcome(actor=user, claim=claim, lease_token=claim.lease_token, summary="done",
                                      artifacts=artifacts if artifacts is not None else [{"sha": SHA}])  # fmt: skip
    return outcome, VerificationRun.objects.get(outcome=outcome)


def _ci(github, **extra):
    return {"repo": "colony/example", "api_url": github, "poll_s": 5, **extra}


def test_ci_success_passes_the_run_and_accepts_the_outcome(user, github):
    outcome, run = _submitted(user, kind="ci_status", config=_ci(github))
    assert services.run_verification(run.pk) == "passed"
    run.refresh_from_db()
    outcome.refresh_from_db()
    assert run.status == "passed" and run.result["sha"] == SHA and "ci/test: success" in run.log_excerpt
    assert outcome.status == "accepted"
    assert _GitHub.seen[0][0] == f"/repos/colony/example/commits/{SHA}/status"


def test_ci_failure_fails_the_run_and_the_claimant_gets_a_fresh_lease(user, github):
    _GitHub.state = "failure"
    _GitHub.statuses = [{"context": "ci/test", "state": "failure", "description": "3 failed"}]
    outcome, run = _submitted(user, kind="ci_status", config=_ci(github))
    assert services.run_verification(run.pk) == "failed"
    run.refresh_from_db()
    assert "ci/test: failure — 3 failed" in run.log_excerpt
    outcome.refresh_from_db()
    assert outcome.status == "failed"
    assert TaskClaim.objects.get(pk=outcome.claim_id).status == "active"


def test_ci_pending_is_polled_until_it_finishes(user, github, django_capture_on_commit_callbacks):
    _GitHub.state = "pending"
    _GitHub.statuses = [{"context": "ci/test", "state": "pending"}]
    outcome, run = _submitted(user, kind="ci_status", config=_ci(github))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.run_verification(run.pk) == "pending"
    assert len(callbacks) == 1  # the next poll, scheduled on commit
    run.refresh_from_db()
    assert run.status == "running" and run.finished_at is None
    stamp = run.result["polled_at"]
    _GitHub.state = "success"
    assert services.run_verification(run.pk, poll=stamp) == "passed"
    assert services.run_verification(run.pk, poll=stamp) is None  # a duplicate poll does nothing
    outcome.refresh_from_db()
    assert outcome.status == "accepted"


def test_ci_pending_past_the_timeout_errors_and_is_retried(user, github):
    _GitHub.state = "pending"
    outcome, run = _submitted(user, kind="ci_status", config=_ci(github), timeout_s=0)
    assert services.run_verification(run.pk) == "error"
    run.refresh_from_db()
    assert run.result["error"] == "timeout" and run.log_excerpt.startswith("Still pending")
    assert VerificationRun.objects.get(outcome=outcome, attempt=2).status == "queued"


def test_ci_contexts_wait_for_a_missing_required_context(user, github, django_capture_on_commit_callbacks):
    outcome, run = _submitted(user, kind="ci_status", config=_ci(github, contexts=["ci/test", "ci/lint"]))
    with django_capture_on_commit_callbacks():
        assert services.run_verification(run.pk) == "pending"
    run.refresh_from_db()
    assert "ci/lint: missing" in run.log_excerpt


def test_ci_api_errors_are_run_errors_retried_and_unknown_commits_fail(user, github):
    _GitHub.code = 502
    outcome, run = _submitted(user, kind="ci_status", config=_ci(github))
    assert services.run_verification(run.pk) == "error"
    run.refresh_from_db()
    assert run.result == {"error": "http_status", "status_code": 502}
    assert VerificationRun.objects.filter(outcome=outcome, attempt=2, status="queued").exists()
    _GitHub.code = 200
    _, unknown = _submitted(user, kind="ci_status", config=_ci(github), artifacts=[{"sha": "feedface00"}])
    assert services.run_verification(unknown.pk) == "failed"
    unknown.refresh_from_db()
    assert unknown.result["error"] == "not_found"


def test_ci_error_state_fails_and_an_oversized_answer_is_an_error(user, github):
    _GitHub.state = "error"
    _, run = _submitted(user, kind="ci_status", config=_ci(github))
    assert services.run_verification(run.pk) == "failed"
    _GitHub.body = b'{"state": "success", "statuses": ["' + b"x" * (1 << 20) + b'"]}'
    _, big = _submitted(user, kind="ci_status", config=_ci(github))
    assert services.run_verification(big.pk) == "error"
    big.refresh_from_db()
    assert big.result["error"] == "bad_answer"


def test_ci_reads_a_pull_requests_head_and_never_logs_the_token(user, github, settings):
    settings.DISPATCHER_CI_TOKEN = token = "ghp_" + "a" * 36
    _GitHub.statuses = [{"context": "ci/test", "state": "success", "description": f"echo {token}"}]
    _, run = _submitted(user, kind="ci_status", config=_ci(github), artifacts=[{"pr": 7}])
    assert services.run_verification(run.pk) == "passed"
    assert [path for path, _ in _GitHub.seen] == [
        "/repos/colony/example/pulls/7",
        f"/repos/colony/example/commits/{SHA}/status",
    ]
    assert _GitHub.seen[0][1] == f"Bearer {token}"
    run.refresh_from_db()
    assert token not in run.log_excerpt and "ghp_…aaaa" in run.log_excerpt


def test_ci_without_a_commit_fails(user, github):
    _, run = _submitted(user, kind="ci_status", config=_ci(github), artifacts=[{"url": "x"}])
    assert services.run_verification(run.pk) == "failed"
    run.refresh_from_db()
    assert run.result == {"error": "no_commit"}


def test_ci_to_a_private_address_is_refused_without_the_setting(user, github, settings):
    settings.DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE = False
    _, run = _submitted(user, kind="ci_status", config=_ci(github))
    assert services.run_verification(run.pk) == "failed"
    run.refresh_from_db()
    assert run.result == {"error": "unsafe_address"} and not _GitHub.seen


# --- command ---------------------------------------------------------------------------------


class _Sandbox(BaseHTTPRequestHandler):
    """The external sandbox provider: a signed POST {"action": "exec", "spec": {command, timeout_s}}."""

    answer: dict = {}
    code = 200
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signing.verify(timestamp=self.headers["X-Colony-Timestamp"],
                       signature=self.headers["X-Colony-Signature"], body=body)  # fmt: skip
        type(self).received.append(json.loads(body))
        out = json.dumps(type(self).answer).encode()
        self.send_response(type(self).code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def sandbox_provider(settings):
    _Sandbox.answer, _Sandbox.code, _Sandbox.received = {"exit_code": 0, "output": "ok"}, 200, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sandbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PROJECT_SANDBOX_PROVIDER_URL = f"http://127.0.0.1:{server.server_port}/hooks"
    yield _Sandbox
    server.shutdown()
    thread.join(5)


def _command_run(user, *, with_sandbox=True, **config):
    outcome, run = _submitted(user, kind="command", config={"command": "pytest -q", **config}, timeout_s=120)
    if with_sandbox:
        SandboxFactory(project=outcome.task.project, name="ci")
    return outcome, run


def test_a_command_exiting_0_passes_in_the_projects_sandbox(user, sandbox_provider):
    outcome, run = _command_run(user)
    assert services.run_verification(run.pk) == "passed"
    sent = sandbox_provider.received[0]
    assert sent["action"] == "exec" and sent["spec"] == {"command": "pytest -q", "timeout_s": 120}
    run.refresh_from_db()
    assert run.result["exit_code"] == 0 and run.log_excerpt == "ok" and run.runner == "sandbox"
    outcome.refresh_from_db()
    assert outcome.status == "accepted"


def test_a_failing_command_fails_with_the_tail_of_its_output_redacted(user, sandbox_provider):
    secret = "sk_live_" + "b" * 30
    sandbox_provider.answer = {"exit_code": 2, "output": "x" * 40_000 + f"\nKEY={secret}\n1 failed"}
    _, run = _command_run(user)
    assert services.run_verification(run.pk) == "failed"
    run.refresh_from_db()
    assert run.result["exit_code"] == 2 and len(run.log_excerpt) <= 16_000
    assert run.log_excerpt.endswith("1 failed") and secret not in run.log_excerpt


def test_a_command_without_a_running_sandbox_or_with_a_failing_provider_is_an_error(user, sandbox_provider):
    outcome, run = _command_run(user, with_sandbox=False)
    assert services.run_verification(run.pk) == "error"
    run.refresh_from_db()
    assert run.result == {"error": "no_running_sandbox"} and not sandbox_provider.received
    SandboxFactory(project=outcome.task.project)
    sandbox_provider.code = 500
    retry = VerificationRun.objects.get(outcome=outcome, attempt=2)
    assert services.run_verification(retry.pk) == "error"
    retry.refresh_from_db()
    assert retry.result["error"] == "provider" and "HTTP 500" in retry.log_excerpt


def test_a_named_sandbox_is_used(user, sandbox_provider):
    outcome, run = _command_run(user, with_sandbox=False, sandbox="ci")
    SandboxFactory(project=outcome.task.project, name="other")
    named = SandboxFactory(project=outcome.task.project, name="ci")
    assert services.run_verification(run.pk) == "passed"
    assert sandbox_provider.received[0]["id"] == str(named.pk)


def test_check_configs_are_validated(user):
    task = RoadmapTaskFactory(project=ProjectFactory(owner_user=user))
    for kind, config in (("ci_status", {"repo": "no-slash"}), ("ci_status", {"repo": "a/b", "sha": "zz"}),
                         ("command", {}), ("command", {"command": "x" * 2001})):  # fmt: skip
        with pytest.raises(ValidationFailed):
            services.add_check(
                actor=user, task=task, name=f"{kind}{len(str(config))}", kind=kind, config=config
            )
    services.add_check(actor=user, task=task, name="ci", kind="ci_status", config={"repo": "colony/example"})
    services.add_check(actor=user, task=task, name="cmd", kind="command", config={"command": "make test"})
