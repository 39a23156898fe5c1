"""Sandboxes and deployments through the API: state machines (409 on illegal moves), quotas, lists."""

from __future__ import annotations

import pytest

from apps.projects.models import Deployment, Sandbox
from tests.accounts.factories import UserFactory

from .factories import (
    DatabaseFactory,
    DeploymentFactory,
    ProjectFactory,
    SandboxFactory,
    StorageBucketFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


def test_create_sandbox_is_accepted_and_provisioning_starts(
    user_client, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            f"/api/v1/projects/{project.pk}/sandboxes/",
            {"name": "dev", "image": "python:3.11"},
            format="json",
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "requested"  # the state when the request was accepted
    assert "access_secret" not in body and body["access_secret_hint"].startswith("…")
    sandbox = Sandbox.objects.get(pk=body["id"])
    assert sandbox.status == "provisioning"  # the task ran after commit
    assert len(sandbox.access_secret) > 30


def test_sandbox_name_is_unique_while_not_destroyed(user_client, project):
    SandboxFactory(project=project, name="dev")
    response = user_client.post(
        f"/api/v1/projects/{project.pk}/sandboxes/", {"name": "dev", "image": "x"}, format="json"
    )
    assert response.status_code == 400 and "name" in response.json()


def test_sandbox_quota_from_network_settings(user_client, project, network):
    network.settings = {"project_quotas": {"sandboxes": 2}}
    network.save()
    SandboxFactory(project=project)
    SandboxFactory(project=project, status="destroyed")  # does not count
    url = f"/api/v1/projects/{project.pk}/sandboxes/"
    assert user_client.post(url, {"name": "a", "image": "x"}, format="json").status_code == 202
    over = user_client.post(url, {"name": "b", "image": "x"}, format="json")
    assert over.status_code == 409 and over.json()["code"] == "quota_exceeded"


def test_sandbox_state_machine_through_the_api(user_client, project):
    sandbox = SandboxFactory(project=project, status="provisioning")
    url = f"/api/v1/sandboxes/{sandbox.pk}/"
    assert user_client.post(f"{url}start/").status_code == 409
    assert user_client.delete(url).status_code == 409
    Sandbox.objects.filter(pk=sandbox.pk).update(status="running")
    assert user_client.delete(url).json()["code"] == "invalid_state"  # running → destroyed is illegal
    stopped = user_client.post(f"{url}stop/")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert user_client.post(f"{url}stop/").status_code == 409
    started = user_client.post(f"{url}start/").json()
    assert started["status"] == "running" and started["last_active_at"]
    user_client.post(f"{url}stop/")
    destroyed = user_client.delete(url)
    assert destroyed.status_code == 202 and destroyed.json()["status"] == "destroyed"
    assert user_client.post(f"{url}start/").status_code == 409


def test_sandbox_of_an_invisible_project_is_404(network, user_client):
    sandbox = SandboxFactory(project=ProjectFactory(owner_user=UserFactory(network=network)))
    assert user_client.get(f"/api/v1/sandboxes/{sandbox.pk}/").status_code == 404
    assert user_client.post(f"/api/v1/sandboxes/{sandbox.pk}/stop/").status_code == 404


def test_viewer_of_a_network_project_reads_but_cannot_run(network, user_client):
    project = ProjectFactory(owner_user=UserFactory(network=network), visibility="network")
    sandbox = SandboxFactory(project=project)
    assert user_client.get(f"/api/v1/sandboxes/{sandbox.pk}/").status_code == 200
    assert user_client.post(f"/api/v1/sandboxes/{sandbox.pk}/stop/").status_code == 403


def test_deployment_needs_a_repository(user_client, user):
    project = ProjectFactory(owner_user=user, repo_url=None)
    response = user_client.post(f"/api/v1/projects/{project.pk}/deployments/", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "no_repository"


def test_deployment_defaults_to_the_default_branch_and_can_be_cancelled_once(user_client, project):
    response = user_client.post(
        f"/api/v1/projects/{project.pk}/deployments/", {"environment": "production"}, format="json"
    )
    assert response.status_code == 202
    body = response.json()
    assert body["git_ref"] == "main" and body["status"] == "queued"
    url = f"/api/v1/deployments/{body['id']}/"
    cancelled = user_client.post(f"{url}cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"]
    assert user_client.post(f"{url}cancel/").status_code == 409


def test_redeploy_queues_a_new_deployment_of_the_same_ref(user_client, project):
    live = DeploymentFactory(project=project, environment="production", git_ref="v1.2.0", status="live")
    response = user_client.post(f"/api/v1/deployments/{live.pk}/redeploy/")
    assert response.status_code == 202
    fresh = Deployment.objects.get(pk=response.json()["id"])
    assert (fresh.environment, fresh.git_ref, fresh.status) == ("production", "v1.2.0", "queued")
    assert user_client.post(f"/api/v1/deployments/{live.pk}/cancel/").status_code == 409  # live is finished


def test_bucket_and_database_delete_only_from_ready_or_failed(user_client, project):
    bucket = StorageBucketFactory(project=project, status="provisioning")
    database = DatabaseFactory(project=project, status="deleted")
    assert user_client.delete(f"/api/v1/storage-buckets/{bucket.pk}/").status_code == 409
    assert user_client.delete(f"/api/v1/databases/{database.pk}/").status_code == 409


def test_database_create_without_a_configured_server_is_409(user_client, project, settings):
    settings.PROJECT_DATABASES_URL = ""
    response = user_client.post(f"/api/v1/projects/{project.pk}/databases/", {"name": "main"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "provider_unavailable"


def test_infra_create_validates_input(user_client, project):
    bad = user_client.post(
        f"/api/v1/projects/{project.pk}/sandboxes/",
        {"name": "../x", "image": "", "cpu_millis": 5},
        format="json",
    )
    assert bad.status_code == 400 and {"name", "image", "cpu_millis"} <= set(bad.json())
    assert (
        user_client.post(
            f"/api/v1/projects/{project.pk}/storage-buckets/", {"name": "UPPER"}, format="json"
        ).status_code
        == 400
    )
    assert (
        user_client.post(
            f"/api/v1/projects/{project.pk}/deployments/", {"environment": "staging"}, format="json"
        ).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("path", "factory"),
    [
        ("sandboxes", SandboxFactory),
        ("deployments", DeploymentFactory),
        ("storage-buckets", StorageBucketFactory),
        ("databases", DatabaseFactory),
    ],
)
def test_nested_lists_have_a_constant_query_count(
    user_client, project, path, factory, django_assert_max_num_queries
):
    for _ in range(6):
        factory(project=project)
    factory(project=ProjectFactory(owner_user=project.owner_user))  # another project's row
    with django_assert_max_num_queries(8):  # 5 for the auth stack, project, page
        response = user_client.get(f"/api/v1/projects/{project.pk}/{path}/")
    assert response.status_code == 200 and len(response.json()["results"]) == 6
    assert all(row["project"] == str(project.pk) for row in response.json()["results"])


def test_infra_changes_of_org_projects_are_audited_in_the_org_log(network, user, user_client):
    from apps.core.models import AuditEvent
    from tests.organizations.factories import OrganizationFactory

    from .factories import OrgProjectFactory

    org = OrganizationFactory(network=network, owner=user)
    project = OrgProjectFactory(owner_organization=org)
    bucket_id = user_client.post(
        f"/api/v1/projects/{project.pk}/storage-buckets/", {"name": "logs"}, format="json"
    ).json()["id"]
    StorageBucketFactory._meta.model.objects.filter(pk=bucket_id).update(status="ready")
    assert user_client.delete(f"/api/v1/storage-buckets/{bucket_id}/").status_code == 202
    actions = list(
        AuditEvent.objects.filter(organization=org, target_id=bucket_id)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["project.bucket.created", "project.bucket.deleted"]
