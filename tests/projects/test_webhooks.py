"""Signed provider webhooks: valid moves state, bad or stale signatures are 401, duplicates are no-ops."""

from __future__ import annotations

import time

import pytest

from apps.core.models import InboundWebhook
from apps.projects.models import Deployment, Sandbox

from .factories import DeploymentFactory, ProjectFactory, SandboxFactory
from .helpers import signed_post

pytestmark = pytest.mark.django_db

SANDBOX_URL = "/api/v1/webhooks/sandbox"
DEPLOY_URL = "/api/v1/webhooks/deploy"


@pytest.fixture
def sandbox(user):
    return SandboxFactory(project=ProjectFactory(owner_user=user), status="provisioning")


def _deliver(api_client, capture, url, payload, **kwargs):
    with capture(execute=True):
        return signed_post(api_client, url, payload, **kwargs)


def test_valid_signature_moves_the_sandbox(api_client, sandbox, django_capture_on_commit_callbacks):
    payload = {
        "id": "evt_1",
        "sandbox_id": str(sandbox.pk),
        "status": "running",
        "access_url": "https://sbx-1.example.dev",
        "provider_ref": "sbx-1",
    }
    response = _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, payload)
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    sandbox.refresh_from_db()
    assert (sandbox.status, sandbox.access_url, sandbox.provider_ref) == (
        "running",
        "https://sbx-1.example.dev",
        "sbx-1",
    )
    assert sandbox.last_active_at is not None
    webhook = InboundWebhook.objects.get(source="sandbox", external_id="evt_1")
    assert (webhook.status, webhook.network_id, webhook.attempts) == ("processed", sandbox.network_id, 1)


def test_a_trailing_slash_is_accepted_too(api_client, sandbox, django_capture_on_commit_callbacks):
    payload = {"id": "evt_slash", "sandbox_id": str(sandbox.pk), "status": "running"}
    assert (
        _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL + "/", payload).status_code
        == 200
    )


def test_invalid_signature_is_401_and_changes_nothing(
    api_client, sandbox, django_capture_on_commit_callbacks
):
    payload = {"id": "evt_bad", "sandbox_id": str(sandbox.pk), "status": "running"}
    response = _deliver(
        api_client, django_capture_on_commit_callbacks, SANDBOX_URL, payload, signature="0" * 64
    )
    assert response.status_code == 401 and response.json()["code"] == "invalid_signature"
    sandbox.refresh_from_db()
    assert sandbox.status == "provisioning"
    assert not InboundWebhook.objects.exists()


def test_signature_over_another_body_is_401(api_client, sandbox):
    from apps.projects import signing

    ts = str(int(time.time()))
    forged = signing.sign(
        ts, b'{"id":"evt_x","sandbox_id":"%s","status":"stopped"}' % str(sandbox.pk).encode()
    )
    payload = {"id": "evt_x", "sandbox_id": str(sandbox.pk), "status": "failed"}
    assert (
        signed_post(api_client, SANDBOX_URL, payload, timestamp=int(ts), signature=forged).status_code == 401
    )
    assert not InboundWebhook.objects.exists()


def test_stale_timestamp_is_401_even_when_correctly_signed(
    api_client, sandbox, django_capture_on_commit_callbacks
):
    payload = {"id": "evt_old", "sandbox_id": str(sandbox.pk), "status": "running"}
    old = int(time.time()) - 301
    response = _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, payload, timestamp=old)
    assert response.status_code == 401
    future = int(time.time()) + 301
    assert (
        _deliver(
            api_client, django_capture_on_commit_callbacks, SANDBOX_URL, payload, timestamp=future
        ).status_code
        == 401
    )
    sandbox.refresh_from_db()
    assert sandbox.status == "provisioning" and not InboundWebhook.objects.exists()


def test_missing_headers_or_unset_secret_is_401(api_client, sandbox, settings):
    response = api_client.post(
        SANDBOX_URL, {"id": "e", "sandbox_id": str(sandbox.pk), "status": "running"}, format="json"
    )
    assert response.status_code == 401
    settings.INFRA_WEBHOOK_SECRET = ""
    payload = {"id": "e", "sandbox_id": str(sandbox.pk), "status": "running"}
    ts = str(int(time.time()))
    response = api_client.generic(
        "POST",
        SANDBOX_URL,
        b"{}",
        content_type="application/json",
        headers={"X-Colony-Timestamp": ts, "X-Colony-Signature": "abc"},
    )
    assert response.status_code == 401
    assert not InboundWebhook.objects.exists() and payload


def test_duplicate_delivery_is_200_and_applied_once(api_client, sandbox, django_capture_on_commit_callbacks):
    Sandbox.objects.filter(pk=sandbox.pk).update(status="running")
    stop = {"id": "evt_stop", "sandbox_id": str(sandbox.pk), "status": "stopped"}
    assert (
        _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, stop).json()["status"]
        == "accepted"
    )
    # the user starts it again; a redelivery of the old "stopped" event must not stop it
    Sandbox.objects.filter(pk=sandbox.pk).update(status="running")
    again = _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, stop)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    sandbox.refresh_from_db()
    assert sandbox.status == "running"
    assert InboundWebhook.objects.filter(external_id="evt_stop").count() == 1
    assert InboundWebhook.objects.get(external_id="evt_stop").attempts == 1


def test_an_illegal_move_is_recorded_as_ignored(api_client, sandbox, django_capture_on_commit_callbacks):
    Sandbox.objects.filter(pk=sandbox.pk).update(status="destroyed")
    payload = {"id": "evt_late", "sandbox_id": str(sandbox.pk), "status": "running"}
    assert _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, payload).status_code == 200
    sandbox.refresh_from_db()
    assert sandbox.status == "destroyed"
    webhook = InboundWebhook.objects.get(external_id="evt_late")
    assert webhook.status == "ignored" and "illegal transition" in webhook.error


def test_unknown_resource_is_ignored_and_bad_bodies_are_400(api_client, django_capture_on_commit_callbacks):
    unknown = {"id": "evt_u", "sandbox_id": "0190a0a0-0000-7000-8000-000000000000", "status": "running"}
    assert _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, unknown).status_code == 200
    assert InboundWebhook.objects.get(external_id="evt_u").status == "ignored"
    assert signed_post(api_client, SANDBOX_URL, {"sandbox_id": "x"}).status_code == 400
    assert signed_post(api_client, SANDBOX_URL, {"id": "e2", "sandbox_id": "not-a-uuid"}).status_code == 400
    assert signed_post(api_client, SANDBOX_URL, ["not", "an", "object"]).status_code == 400


def test_activity_report_refreshes_last_active_at(api_client, sandbox, django_capture_on_commit_callbacks):
    Sandbox.objects.filter(pk=sandbox.pk).update(status="running", last_active_at=None)
    payload = {"id": "evt_ping", "sandbox_id": str(sandbox.pk), "status": "running"}
    _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, payload)
    sandbox.refresh_from_db()
    assert sandbox.status == "running" and sandbox.last_active_at is not None


def test_deploy_webhooks_walk_the_pipeline_and_supersede_the_previous_live(
    api_client, user, django_capture_on_commit_callbacks
):
    project = ProjectFactory(owner_user=user)
    old = DeploymentFactory(project=project, environment="production", status="live")
    new = DeploymentFactory(project=project, environment="production", status="queued")
    sha = "a" * 40
    for n, state in enumerate(("building", "deploying", "live")):
        payload = {
            "id": f"evt_d{n}",
            "deployment_id": str(new.pk),
            "status": state,
            "commit_sha": sha,
            "site_url": "https://app.example.dev",
        }
        assert (
            _deliver(api_client, django_capture_on_commit_callbacks, DEPLOY_URL, payload).status_code == 200
        )
    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.status, new.commit_sha, new.site_url) == ("live", sha, "https://app.example.dev")
    assert new.started_at and new.finished_at
    assert old.status == "superseded"
    skipped = {"id": "evt_d9", "deployment_id": str(new.pk), "status": "building"}
    _deliver(api_client, django_capture_on_commit_callbacks, DEPLOY_URL, skipped)
    assert Deployment.objects.get(pk=new.pk).status == "live"
    assert InboundWebhook.objects.get(external_id="evt_d9").status == "ignored"


def test_deploy_failure_records_the_error(api_client, user, django_capture_on_commit_callbacks):
    deployment = DeploymentFactory(project=ProjectFactory(owner_user=user), status="building")
    payload = {"id": "evt_f", "deployment_id": str(deployment.pk), "status": "failed", "error": "npm ERR!"}
    _deliver(api_client, django_capture_on_commit_callbacks, DEPLOY_URL, payload)
    deployment.refresh_from_db()
    assert (deployment.status, deployment.error) == ("failed", "npm ERR!")
    assert deployment.finished_at is not None


def test_webhooks_need_no_session_or_csrf(user, sandbox, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    payload = {"id": "evt_csrf", "sandbox_id": str(sandbox.pk), "status": "running"}
    with django_capture_on_commit_callbacks(execute=True):
        assert signed_post(client, SANDBOX_URL, payload).status_code == 200


def test_webhooks_work_while_the_default_network_is_suspended(
    api_client, network, sandbox, django_capture_on_commit_callbacks
):
    network.status = "suspended"
    network.save()
    payload = {"id": "evt_susp", "sandbox_id": str(sandbox.pk), "status": "running"}
    assert _deliver(api_client, django_capture_on_commit_callbacks, SANDBOX_URL, payload).status_code == 200
    assert Sandbox.objects.get(pk=sandbox.pk).status == "running"


def test_reconcile_processes_deliveries_whose_task_was_lost(api_client, sandbox):
    from datetime import timedelta

    from django.utils import timezone

    from apps.projects.tasks import reconcile_provisioning

    payload = {"id": "evt_lost", "sandbox_id": str(sandbox.pk), "status": "running"}
    assert signed_post(api_client, SANDBOX_URL, payload).status_code == 200  # on_commit never ran
    assert InboundWebhook.objects.get(external_id="evt_lost").status == "received"
    InboundWebhook.objects.filter(external_id="evt_lost").update(
        created_at=timezone.now() - timedelta(minutes=6)
    )
    reconcile_provisioning.delay().get()
    assert InboundWebhook.objects.get(external_id="evt_lost").status == "processed"
    assert Sandbox.objects.get(pk=sandbox.pk).status == "running"
