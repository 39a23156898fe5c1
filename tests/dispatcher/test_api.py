"""The dispatcher over HTTP: bad input is 400/403/404/409 with nothing written; lists are
query-bounded at any page size; the verification and challenge flows end to end."""

from __future__ import annotations

import http.server
import threading

import pytest

from apps.bounties import services as bounties
from apps.bounties.models import BountyEscrow
from apps.dispatcher import services
from apps.dispatcher.models import RoadmapChallenge, RoadmapTask, TaskClaim, TaskOutcome
from tests.accounts.factories import UserFactory
from tests.bounties.factories import funded_balance
from tests.projects.factories import ProjectFactory

from .factories import OutcomeCheckFactory, RoadmapTaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


def test_creating_and_claiming_over_the_api_returns_the_lease_only_to_the_claimant(user_client, project):
    response = user_client.post(f"/api/v1/projects/{project.pk}/roadmap-tasks/", {"title": "Ship it", "publish": True},
                                format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    claim = user_client.post(f"/api/v1/roadmap-tasks/{task_id}/claims/", format="json")
    assert claim.status_code == 201 and claim.json()["lease_token"]
    again = user_client.post(f"/api/v1/roadmap-tasks/{task_id}/claims/", format="json")
    assert again.status_code == 409 and again.json()["code"] == "not_claimable"


def test_a_stale_lease_token_is_a_409_and_submitting_twice_too(user, user_client, project):
    claim = services.claim_task(actor=user, task=RoadmapTaskFactory(project=project))
    stale = user_client.post(f"/api/v1/task-claims/{claim.pk}/heartbeat/",
                             {"lease_token": "00000000-0000-0000-0000-000000000000"}, format="json")  # fmt: skip
    assert stale.status_code == 409 and stale.json()["code"] == "stale_lease"
    url = f"/api/v1/task-claims/{claim.pk}/outcomes/"
    first = user_client.post(url, {"lease_token": str(claim.lease_token), "summary": "done"}, format="json")
    assert first.status_code == 201
    second = user_client.post(url, {"lease_token": str(claim.lease_token), "summary": "again"}, format="json")
    assert second.status_code == 409 and TaskOutcome.objects.count() == 1


def test_a_cycle_over_the_api_is_a_400_naming_the_field(user, user_client, project):
    a, b = RoadmapTaskFactory(project=project), RoadmapTaskFactory(project=project)
    services.add_dependency(actor=user, task=a, depends_on=b)
    response = user_client.post(f"/api/v1/roadmap-tasks/{b.pk}/dependencies/", {"depends_on": str(a.pk)},
                                format="json")  # fmt: skip
    assert response.status_code == 400 and "depends_on" in response.json()


def test_a_claim_by_a_viewer_of_a_network_project_is_403(project, network):
    from rest_framework.test import APIClient

    ProjectFactory._meta.model.objects.filter(pk=project.pk).update(visibility="network")
    task = RoadmapTaskFactory(project=project)
    client = APIClient()
    client.force_login(UserFactory(network=network))
    response = client.post(f"/api/v1/roadmap-tasks/{task.pk}/claims/", format="json")
    assert response.status_code == 403 and not TaskClaim.objects.exists()


def test_funding_needs_an_idempotency_key_and_a_replay_funds_once(user, user_client, project):
    funded_balance(user, amount=1_000)
    task = RoadmapTaskFactory(project=project)
    url = f"/api/v1/roadmap-tasks/{task.pk}/escrows/"
    body = {"asset": "USD", "amount_minor": 300}
    assert user_client.post(url, body, format="json").status_code == 400
    first = user_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = user_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert BountyEscrow.objects.get().held_minor == 300
    too_much = user_client.post(
        url, {"asset": "USD", "amount_minor": 5_000}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    assert too_much.status_code == 409 and too_much.json()["code"] == "insufficient_funds"
    for bad in ({"asset": "USD", "amount_minor": 0}, {"asset": "DOGE", "amount_minor": 5}):
        assert user_client.post(url, bad, format="json", HTTP_IDEMPOTENCY_KEY="k3").status_code == 400


@pytest.mark.parametrize("path", ["roadmap-tasks", "dispatcher/signals"])
def test_project_lists_are_query_bounded_at_two_page_sizes(user, user_client, project, path,
                                                          django_assert_max_num_queries):  # fmt: skip
    for size in (3, 30):
        for _ in range(size):
            task = RoadmapTaskFactory(project=project)
            services.signal(kind="task_opened", project=project, task=task)
        with django_assert_max_num_queries(10):
            response = user_client.get(f"/api/v1/projects/{project.pk}/{path}/?page_size={size}")
        assert response.status_code == 200 and len(response.json()["results"]) >= size


@pytest.mark.parametrize(
    "path", ["task-claims", "roadmap-challenges", "balances", "wallets", "payout-requests"]
)
def test_top_level_lists_are_query_bounded(user, user_client, project, path, django_assert_max_num_queries):
    for size in (2, 20):
        for _ in range(size):
            claim = services.claim_task(actor=user, task=RoadmapTaskFactory(project=project))
            TaskOutcome.objects.create(network=project.network, task=claim.task, claim=claim, submitted_by=user,
                                       status="accepted")  # fmt: skip
            RoadmapChallenge.objects.create(network=project.network, task=claim.task, outcome=claim.outcomes.get(),
                                            challenger=user)  # fmt: skip
            TaskClaim.objects.filter(pk=claim.pk).update(status="completed")
        with django_assert_max_num_queries(10):
            assert user_client.get(f"/api/v1/{path}/").status_code == 200


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b"healthy" if self.path == "/health" else b"broken"
        self.send_response(200 if self.path == "/health" else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def target():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_passing_http_check_accepts_and_the_window_releases_the_bounty(user, project, network, target, settings,
                                                                        django_capture_on_commit_callbacks):  # fmt: skip
    settings.DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE = True
    worker = UserFactory(network=network)
    from tests.organizations.factories import OrganizationMemberFactory  # noqa: F401

    task = RoadmapTaskFactory(project=project, challenge_window_hours=0)
    OutcomeCheckFactory(
        task=task, kind="http", config={"url": f"{target}/health", "expected_text": "healthy"}
    )
    funded_balance(user, amount=1_000)
    bounties.fund_escrow(actor=user, task=task, asset="USD", amount_minor=1_000, idempotency_key="b")
    claim = services.claim_task(actor=user, task=task)  # the owner works on it (claimant = beneficiary)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.submit_outcome(
            actor=user, claim=claim, lease_token=claim.lease_token, summary="up"
        )
    outcome.refresh_from_db()
    assert outcome.status == "accepted", list(outcome.runs.values("status", "log_excerpt"))
    assert services.finalize_accepted() == 1
    task.refresh_from_db()
    assert task.status == "done" and BountyEscrow.objects.get().status == "released"
    assert worker.pk  # another member stays unpaid


def test_a_failing_check_gives_a_fresh_lease_until_attempts_run_out(user, project, target, settings,
                                                                   django_capture_on_commit_callbacks):  # fmt: skip
    settings.DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE = True
    task = RoadmapTaskFactory(project=project, max_attempts=2)
    OutcomeCheckFactory(task=task, kind="http", config={"url": f"{target}/broken"})
    claim = services.claim_task(actor=user, task=task)
    with django_capture_on_commit_callbacks(execute=True):
        services.submit_outcome(actor=user, claim=claim, lease_token=claim.lease_token, summary="try 1")
    fresh = TaskClaim.objects.get(pk=claim.pk)
    assert (
        fresh.status == "active" and fresh.lease_token != claim.lease_token and fresh.fence == claim.fence + 1
    )
    with pytest.raises(Exception) as err:  # the old token is stale now
        services.submit_outcome(actor=user, claim=fresh, lease_token=claim.lease_token, summary="old")
    assert getattr(err.value, "code", "") == "stale_lease"
    with django_capture_on_commit_callbacks(execute=True):
        services.submit_outcome(actor=user, claim=fresh, lease_token=fresh.lease_token, summary="try 2")
    assert TaskClaim.objects.get(pk=claim.pk).status == "failed"
    assert RoadmapTask.objects.get(pk=task.pk).status == "open"


def test_a_challenge_inside_the_window_freezes_release_and_upheld_reopens_and_unlocks(user, project, network):
    from apps.projects.models import Project
    from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

    org = OrganizationFactory(network=network)
    owner, claimant, challenger = (OrganizationMemberFactory(organization=org, role=r).user
                                   for r in ("owner", "member", "member"))  # fmt: skip
    org_project = Project.objects.create(network=network, owner_organization=org, name="o", slug="o")
    task = RoadmapTaskFactory(project=org_project, challenge_window_hours=24)
    funded_balance(owner, amount=1_000)
    escrow = bounties.fund_escrow(actor=owner, task=task, asset="USD", amount_minor=800, idempotency_key="c")
    claim = services.claim_task(actor=claimant, task=task)
    outcome = services.submit_outcome(
        actor=claimant, claim=claim, lease_token=claim.lease_token, summary="done"
    )
    services.review_outcome(actor=owner, outcome=outcome, accept=True)
    challenge = services.challenge_outcome(
        actor=challenger, outcome=outcome, reason="incomplete", details="tests?"
    )
    RoadmapTask.objects.filter(pk=task.pk).update(
        accepted_at=task.created_at.replace(year=2000)
    )  # window over
    assert services.finalize_accepted() == 0  # an open challenge blocks it
    from apps.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.resolve_challenge(actor=claimant, challenge=challenge, upheld=False)
    services.resolve_challenge(actor=owner, challenge=challenge, upheld=True, note="missing tests")
    task.refresh_from_db()
    escrow.refresh_from_db()
    assert task.status == "open" and escrow.status == "funded" and escrow.beneficiary_id is None
    assert TaskOutcome.objects.get(pk=outcome.pk).status == "rejected"
