"""Sandbox and deploy providers are told what to do by a signed POST carrying the project's secrets."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.projects import signing
from apps.projects.models import Deployment, Sandbox

from .factories import DatabaseFactory, ProjectFactory, SandboxFactory, StorageBucketFactory

pytestmark = pytest.mark.django_db


class _Recorder(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ref": "ext-42"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def provider_server(settings):
    _Recorder.received = []
    _Recorder.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hooks"
    settings.PROJECT_SANDBOX_PROVIDER_URL = url
    settings.PROJECT_DEPLOY_PROVIDER_URL = url
    yield _Recorder
    server.shutdown()
    thread.join(5)


def _verified(headers: dict, body: bytes) -> dict:
    signing.verify(
        timestamp=headers["X-Colony-Timestamp"], signature=headers["X-Colony-Signature"], body=body
    )
    return json.loads(body)


def test_sandbox_provisioning_sends_a_signed_request_with_the_secrets(
    provider_server, user, user_client, django_capture_on_commit_callbacks
):
    project = ProjectFactory(owner_user=user, github_token="ghp_secretsecretsecret0000")
    DatabaseFactory(project=project, name="main", connection_url="postgresql://r:pw@db:5432/d")
    StorageBucketFactory(
        project=project, name="assets", access_key_id="AKIAEXAMPLE", secret_access_key="s3cr3t-value"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            f"/api/v1/projects/{project.pk}/sandboxes/", {"name": "dev", "image": "node:22"}, format="json"
        )
    assert response.status_code == 202
    [(headers, body)] = provider_server.received
    sent = _verified(headers, body)
    assert sent["action"] == "provision" and sent["kind"] == "sandbox" and sent["id"] == response.json()["id"]
    assert sent["spec"]["image"] == "node:22" and sent["spec"]["access_secret"]
    assert sent["env"]["GITHUB_TOKEN"] == "ghp_secretsecretsecret0000"
    assert sent["env"]["DATABASE_URL_MAIN"] == "postgresql://r:pw@db:5432/d"
    assert sent["env"]["BUCKET_ASSETS_SECRET_ACCESS_KEY"] == "s3cr3t-value"
    sandbox = Sandbox.objects.get(pk=sent["id"])
    assert (sandbox.status, sandbox.provider_ref) == ("provisioning", "ext-42")
    # nothing of it comes back through the API
    detail = user_client.get(f"/api/v1/sandboxes/{sandbox.pk}/").content.decode()
    assert "s3cr3t-value" not in detail and "ghp_secret" not in detail and sandbox.access_secret not in detail


def test_stop_and_deploy_commands_reach_the_provider(
    provider_server, user, user_client, django_capture_on_commit_callbacks
):
    project = ProjectFactory(owner_user=user)
    sandbox = SandboxFactory(project=project, status="running")
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(f"/api/v1/sandboxes/{sandbox.pk}/stop/")
        deployment_id = user_client.post(
            f"/api/v1/projects/{project.pk}/deployments/", {}, format="json"
        ).json()["id"]
    actions = [(_verified(h, b)["action"], _verified(h, b)["kind"]) for h, b in provider_server.received]
    assert actions == [("stop", "sandbox"), ("provision", "deployment")]
    assert Deployment.objects.get(pk=deployment_id).provider_ref == "ext-42"


def test_a_provider_error_fails_the_sandbox(
    provider_server, user, user_client, django_capture_on_commit_callbacks
):
    provider_server.status = 500
    project = ProjectFactory(owner_user=user)
    with django_capture_on_commit_callbacks(execute=True):
        sandbox_id = user_client.post(
            f"/api/v1/projects/{project.pk}/sandboxes/", {"name": "dev", "image": "x"}, format="json"
        ).json()["id"]
    sandbox = Sandbox.objects.get(pk=sandbox_id)
    assert sandbox.status == "failed" and "HTTP 500" in sandbox.status_detail
