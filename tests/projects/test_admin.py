"""Back office: projects with infra inlines (hints only), archive and force-destroy actions."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.projects.models import Project
from tests.accounts.factories import UserFactory

from .factories import DatabaseFactory, ProjectFactory, SandboxFactory, StorageBucketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(other_network):
    staff = UserFactory(network=other_network, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


def test_changelist_is_query_bounded(staff_client, user, django_assert_max_num_queries):
    for _ in range(6):
        ProjectFactory(owner_user=user)
    staff_client.get("/admin/projects/project/")
    with django_assert_max_num_queries(14):
        response = staff_client.get("/admin/projects/project/")
    assert response.status_code == 200


def test_change_page_shows_hints_never_secrets(staff_client, user):
    project = ProjectFactory(owner_user=user, github_token="ghp_topsecrettopsecret7777")
    bucket = StorageBucketFactory(
        project=project, access_key_id="AKIAADMINVIEW00001", secret_access_key="bucket-secret-9999"
    )
    database = DatabaseFactory(project=project, connection_url="postgresql://r:db-password-1234@h:5432/d")
    sandbox = SandboxFactory(project=project)
    html = staff_client.get(f"/admin/projects/project/{project.pk}/change/").content.decode()
    assert project.github_token_hint in html and bucket.bucket_name in html and database.db_name in html
    for secret in (
        "ghp_topsecrettopsecret7777",
        "bucket-secret-9999",
        "AKIAADMINVIEW00001",
        "db-password-1234",
        sandbox.access_secret,
    ):
        assert secret not in html


def test_archive_action_archives_and_audits(staff_client, user):
    project = ProjectFactory(owner_user=user)
    response = staff_client.post(
        "/admin/projects/project/", {"action": "archive", "_selected_action": [str(project.pk)]}
    )
    assert response.status_code == 302
    assert Project.objects.get(pk=project.pk).status == "archived"
    assert AuditEvent.objects.filter(action="project.archived", target_id=project.pk).exists()


def test_force_destroy_action_deletes_an_active_project(
    staff_client, user, django_capture_on_commit_callbacks, monkeypatch
):
    project = ProjectFactory(owner_user=user)
    StorageBucketFactory(project=project)
    destroyed = []
    monkeypatch.setattr("apps.projects.services.infra.run_destroy_detached", destroyed.append)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/projects/project/", {"action": "force_destroy", "_selected_action": [str(project.pk)]}
        )
    assert not Project.objects.filter(pk=project.pk).exists()
    assert [spec["kind"] for spec in destroyed] == ["storagebucket"]
    assert AuditEvent.objects.filter(action="project.deleted", target_id=project.pk).exists()
