"""/api/v1/projects/: create, visibility, levels by org role, archive, delete, transfer."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.projects.models import Project
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

from .factories import (
    DatabaseFactory,
    OrgProjectFactory,
    ProjectFactory,
    SandboxFactory,
    StorageBucketFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _member(org, role: str):
    return OrganizationMemberFactory(organization=org, role=role).user


def test_create_user_project_slugs_the_name_and_never_returns_the_token(user_client, user):
    response = user_client.post(
        URL, {"name": "My Great App", "github_token": "ghp_0123456789abcdefghijkl9876"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "my-great-app"
    assert body["owner_user"] == str(user.pk) and body["owner_organization"] is None
    assert body["visibility"] == "private" and body["status"] == "active"
    assert "github_token" not in body and body["github_token_hint"] == "ghp_…9876"
    again = user_client.post(URL, {"name": "My Great App"}, format="json").json()
    assert again["slug"] == "my-great-app-2"


def test_explicit_slug_taken_by_the_same_owner_is_a_400(user_client, user):
    ProjectFactory(owner_user=user, slug="taken")
    response = user_client.post(URL, {"name": "x", "slug": "taken"}, format="json")
    assert response.status_code == 400 and "slug" in response.json()


def test_bad_input_is_a_400_with_field_messages(user_client):
    response = user_client.post(
        URL,
        {"name": "", "visibility": "secret", "repo_url": "not a url", "default_branch": "-x"},
        format="json",
    )
    assert response.status_code == 400
    assert {"name", "visibility", "repo_url", "default_branch"} <= set(response.json())


@pytest.mark.parametrize(
    ("role", "allowed"), [("owner", True), ("admin", True), ("member", True), ("viewer", False)]
)
def test_org_project_creation_follows_the_role_matrix(network, role, allowed):
    org = OrganizationFactory(network=network, settings__default_project_visibility="network")
    client = _client(_member(org, role))
    response = client.post(URL, {"name": "Org thing", "owner_organization": str(org.pk)}, format="json")
    assert response.status_code == (201 if allowed else 403), response.json()
    if allowed:
        assert response.json()["visibility"] == "network"  # the org's default
        assert AuditEvent.objects.filter(organization=org, action="project.created").exists()


def test_members_cannot_create_org_projects_when_the_setting_is_off(network):
    org = OrganizationFactory(network=network, settings__members_can_create_projects=False)
    response = _client(_member(org, "member")).post(
        URL, {"name": "x", "owner_organization": str(org.pk)}, format="json"
    )
    assert response.status_code == 403


def test_private_projects_of_others_are_invisible_and_404(user_client, network):
    stranger = UserFactory(network=network)
    private = ProjectFactory(owner_user=stranger, visibility="private")
    shared = ProjectFactory(owner_user=stranger, visibility="network")
    public = ProjectFactory(owner_user=stranger, visibility="public")
    ids = {row["id"] for row in user_client.get(URL).json()["results"]}
    assert ids == {str(shared.pk), str(public.pk)}
    assert user_client.get(f"{URL}{private.pk}/").status_code == 404
    assert user_client.patch(f"{URL}{private.pk}/", {"name": "y"}, format="json").status_code == 404
    assert user_client.get(f"{URL}{private.pk}/sandboxes/").status_code == 404


def test_a_visible_project_is_403_not_404_for_changes_without_the_level(user_client, network):
    shared = ProjectFactory(owner_user=UserFactory(network=network), visibility="network")
    assert user_client.get(f"{URL}{shared.pk}/").status_code == 200
    response = user_client.patch(f"{URL}{shared.pk}/", {"name": "mine now"}, format="json")
    assert response.status_code == 403
    assert user_client.post(f"{URL}{shared.pk}/archive/").status_code == 403


@pytest.mark.parametrize(
    ("role", "can_view", "can_edit", "can_run_sandbox", "can_manage_infra", "can_archive"),
    [
        ("owner", True, True, True, True, True),
        ("admin", True, True, True, True, True),
        ("member", True, False, True, False, False),
        ("viewer", True, False, False, False, False),
        ("billing", True, False, False, False, False),
        (None, False, False, False, False, False),
    ],
)
def test_levels_by_org_role(
    network, role, can_view, can_edit, can_run_sandbox, can_manage_infra, can_archive
):
    org = OrganizationFactory(network=network)
    project = OrgProjectFactory(owner_organization=org, visibility="private")
    actor = _member(org, role) if role else UserFactory(network=network)
    client = _client(actor)
    base = f"{URL}{project.pk}/"
    missing = 404
    assert client.get(base).status_code == (200 if can_view else missing)
    edit = client.patch(base, {"description": "d"}, format="json").status_code
    assert edit == (200 if can_edit else 403 if can_view else missing)
    run = client.post(f"{base}sandboxes/", {"name": "s1", "image": "python:3.11"}, format="json").status_code
    assert run == (202 if can_run_sandbox else 403 if can_view else missing)
    infra = client.post(f"{base}storage-buckets/", {"name": "b"}, format="json").status_code
    # a manager passes the level check; the bucket is then queued (202)
    assert infra == (202 if can_manage_infra else 403 if can_view else missing)
    archive = client.post(f"{base}archive/").status_code
    assert archive == (200 if can_archive else 403 if can_view else missing)


def test_update_sets_and_clears_the_token_and_checks_the_slug(user_client, user):
    project = ProjectFactory(owner_user=user)
    ProjectFactory(owner_user=user, slug="other")
    url = f"{URL}{project.pk}/"
    body = user_client.patch(
        url, {"github_token": "ghp_zzzzzzzzzzzzzzzzzzzz1111", "description": "d"}, format="json"
    ).json()
    assert body["github_token_hint"] == "ghp_…1111" and body["description"] == "d"
    assert user_client.patch(url, {"github_token": None}, format="json").json()["github_token_hint"] == ""
    assert Project.objects.get(pk=project.pk).github_token is None
    assert user_client.patch(url, {"slug": "other"}, format="json").status_code == 400


def test_archive_stops_sandboxes_and_archive_twice_is_409(
    user_client, user, django_capture_on_commit_callbacks
):
    project = ProjectFactory(owner_user=user)
    sandbox = SandboxFactory(project=project, status="running")
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(f"{URL}{project.pk}/archive/")
    assert response.status_code == 200 and response.json()["status"] == "archived"
    sandbox.refresh_from_db()
    assert sandbox.status == "stopped"
    again = user_client.post(f"{URL}{project.pk}/archive/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert (
        user_client.post(
            f"{URL}{project.pk}/sandboxes/", {"name": "n", "image": "i"}, format="json"
        ).status_code
        == 409
    )
    assert user_client.post(f"{URL}{project.pk}/unarchive/").json()["status"] == "active"
    assert user_client.post(f"{URL}{project.pk}/unarchive/").status_code == 409


def test_delete_needs_an_archived_project_and_destroys_its_infra(
    user_client, user, django_capture_on_commit_callbacks, monkeypatch
):
    project = ProjectFactory(owner_user=user)
    bucket = StorageBucketFactory(project=project)
    database = DatabaseFactory(project=project)
    SandboxFactory(project=project, status="stopped")
    SandboxFactory(project=project, status="destroyed")
    assert user_client.delete(f"{URL}{project.pk}/").status_code == 409
    user_client.post(f"{URL}{project.pk}/archive/")
    destroyed = []
    monkeypatch.setattr(
        "apps.projects.services.infra.run_destroy_detached", lambda spec: destroyed.append(spec)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert user_client.delete(f"{URL}{project.pk}/").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    kinds = sorted(spec["kind"] for spec in destroyed)
    assert kinds == ["database", "sandbox", "storagebucket"]
    assert {"kind": "storagebucket", "provider": "s3", "bucket_name": bucket.bucket_name} in destroyed
    assert any(spec.get("db_name") == database.db_name for spec in destroyed)
    assert all("secret" not in str(spec) and "connection_url" not in spec for spec in destroyed)


def test_transfer_to_an_org_where_i_may_create_projects(network, user, user_client):
    org = OrganizationFactory(network=network, owner=user)
    project = ProjectFactory(owner_user=user, slug="app")
    response = user_client.post(
        f"{URL}{project.pk}/transfer/", {"owner_organization": str(org.pk)}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["owner_organization"] == str(org.pk) and response.json()["owner_user"] is None
    assert AuditEvent.objects.filter(organization=org, action="project.transferred_in").exists()
    back = user_client.post(f"{URL}{project.pk}/transfer/", {"owner_user": str(user.pk)}, format="json")
    assert back.status_code == 200 and back.json()["owner_user"] == str(user.pk)


def test_transfer_refusals(network, user, user_client):
    project = ProjectFactory(owner_user=user, slug="app")
    someone = UserFactory(network=network)
    to_user = user_client.post(f"{URL}{project.pk}/transfer/", {"owner_user": str(someone.pk)}, format="json")
    assert to_user.status_code == 400
    viewer_org = OrganizationFactory(network=network)
    OrganizationMemberFactory(organization=viewer_org, user=user, role="viewer")
    assert (
        user_client.post(
            f"{URL}{project.pk}/transfer/", {"owner_organization": str(viewer_org.pk)}, format="json"
        ).status_code
        == 403
    )
    org = OrganizationFactory(network=network, owner=user)
    OrgProjectFactory(owner_organization=org, slug="app")
    conflict = user_client.post(
        f"{URL}{project.pk}/transfer/", {"owner_organization": str(org.pk)}, format="json"
    )
    assert conflict.status_code == 409 and conflict.json()["code"] == "slug_taken"
    assert user_client.post(f"{URL}{project.pk}/transfer/", {}, format="json").status_code == 400


def test_list_filters(user_client, user, network):
    org = OrganizationFactory(network=network, owner=user)
    mine = ProjectFactory(owner_user=user, name="Alpha rocket")
    org_project = OrgProjectFactory(owner_organization=org)
    ProjectFactory(owner_user=UserFactory(network=network), visibility="public", name="Beta")
    archived = ProjectFactory(owner_user=user, status="archived")

    def ids(query: str) -> set[str]:
        response = user_client.get(f"{URL}?{query}")
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids("mine=true") == {str(mine.pk), str(org_project.pk), str(archived.pk)}
    assert ids(f"owner_organization={org.pk}") == {str(org_project.pk)}
    assert ids("status=archived") == {str(archived.pk)}
    assert ids("q=rocket") == {str(mine.pk)}
    assert ids("owner_user=nope") == set()
    assert ids("visibility=bogus") == set()


def test_project_list_query_count_is_constant(user_client, user, network, django_assert_max_num_queries):
    org = OrganizationFactory(network=network, owner=user)
    for _ in range(4):
        ProjectFactory(owner_user=user)
        OrgProjectFactory(owner_organization=org)
        ProjectFactory(owner_user=UserFactory(network=network), visibility="network")
    with django_assert_max_num_queries(6):
        response = user_client.get(URL)
    assert response.status_code == 200 and len(response.json()["results"]) == 12


def test_other_networks_projects_are_never_listed(user_client, other_user):
    ProjectFactory(owner_user=other_user, visibility="public")
    assert user_client.get(URL).json()["results"] == []
