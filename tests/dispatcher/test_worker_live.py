"""Flow 3 on a real Celery worker process: the outcome's http check runs in the worker (against a
local HTTP server), the task is accepted, ``finalize_accepted`` releases the bounty; the
worker's reaper expires a silent lease and the task is ready again."""

from __future__ import annotations

import http.server
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bounties import ledger
from apps.bounties import services as bounties
from apps.bounties.models import BountyEscrow
from apps.dispatcher import services
from apps.dispatcher.models import RoadmapTask, TaskClaim, TaskOutcome
from apps.dispatcher.tasks import finalize_accepted, reap_expired_claims
from tests.bounties.factories import funded_balance
from tests.live import wait_for
from tests.projects.factories import ProjectFactory

from .factories import OutcomeCheckFactory, RoadmapTaskFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def target():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


@pytest.fixture
def worker(transactional_db, monkeypatch):
    monkeypatch.setenv("DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE", "True")
    return None


def test_verification_and_release_run_on_a_real_worker(worker, celery_worker_process, target, user, settings):
    project = ProjectFactory(owner_user=user)
    task = RoadmapTaskFactory(project=project, challenge_window_hours=0)
    OutcomeCheckFactory(task=task, kind="http", config={"url": target, "expected_text": "ok"})
    funded_balance(user, amount=2_000)
    bounties.fund_escrow(actor=user, task=task, asset="USD", amount_minor=2_000, idempotency_key="live")
    claim = services.claim_task(actor=user, task=task)
    outcome = services.submit_outcome(
        actor=user, claim=claim, lease_token=claim.lease_token, summary="deployed"
    )

    def accepted():
        return TaskOutcome.objects.filter(pk=outcome.pk, status="accepted").exists()

    wait_for(accepted, timeout=30, message="the worker to run the http check")
    assert outcome.runs.get().status == "passed"
    finalize_accepted.delay()
    wait_for(lambda: BountyEscrow.objects.filter(task=task, status="released").exists(), timeout=30,
             message="the worker to finalise the task")  # fmt: skip
    assert RoadmapTask.objects.get(pk=task.pk).status == "done"
    assert ledger.reconcile()["ok"]


def test_the_workers_reaper_expires_a_silent_lease(celery_worker_process, user):
    task = RoadmapTaskFactory(project=ProjectFactory(owner_user=user))
    claim = services.claim_task(actor=user, task=task)
    TaskClaim.objects.filter(pk=claim.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    reap_expired_claims.delay()
    wait_for(lambda: TaskClaim.objects.filter(pk=claim.pk, status="expired").exists(), timeout=30,
             message="the worker to reap the lease")  # fmt: skip
    assert RoadmapTask.objects.get(pk=task.pk).status == "open"
    assert services.claim_task(actor=user, task=task).fence == claim.fence + 1
