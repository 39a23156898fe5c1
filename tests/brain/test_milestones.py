"""Project milestones: CRUD, transitions, completion with open tasks, task counters."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.brain import services
from apps.brain.models import ProjectMilestone
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory
from tests.projects.factories import OrgProjectFactory, ProjectFactory

from .factories import ProjectMilestoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


def _create(client, project, **body):
    return client.post(f"/api/v1/projects/{project.pk}/milestones/", {"title": "v1", **body}, format="json")


def test_create_and_update_a_milestone(user_client, project, user):
    response = _create(
        user_client, project, starts_on="2026-01-01", due_on="2026-03-01", owner=str(user.pk), position=2
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["owner"], body["task_total"], body["open_tasks"]) == (
        "planned",
        str(user.pk),
        0,
        0,
    )
    url = f"/api/v1/project-milestones/{body['id']}/"
    updated = user_client.patch(url, {"status": "active", "description": "ship it"}, format="json")
    assert updated.status_code == 200 and updated.json()["status"] == "active"


def test_title_is_unique_per_project_and_dates_are_ordered(user_client, project):
    _create(user_client, project)
    duplicate = _create(user_client, project)
    assert duplicate.status_code == 400 and "title" in duplicate.json()
    backwards = _create(user_client, project, title="v2", starts_on="2026-05-01", due_on="2026-04-01")
    assert backwards.status_code == 400 and "due_on" in backwards.json()
    other = _create(user_client, ProjectFactory(owner_user=project.owner_user))
    assert other.status_code == 201


def test_complete_with_open_tasks_needs_force(user_client, project):
    milestone = ProjectMilestoneFactory(project=project, status="active", task_total=5, task_done=3)
    url = f"/api/v1/project-milestones/{milestone.pk}/complete/"
    refused = user_client.post(url, {}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "open_tasks"
    assert refused.json()["open_tasks"] == 2
    forced = user_client.post(url, {"force": True}, format="json")
    assert forced.status_code == 200 and forced.json()["status"] == "completed"
    assert forced.json()["completed_at"]
    assert user_client.post(url, {"force": True}, format="json").status_code == 409


def test_complete_without_open_tasks_and_reopen(user_client, project):
    milestone = ProjectMilestoneFactory(project=project, task_total=2, task_done=2)
    url = f"/api/v1/project-milestones/{milestone.pk}/"
    assert user_client.post(f"{url}complete/", {}, format="json").json()["status"] == "completed"
    assert user_client.patch(url, {"status": "planned"}, format="json").status_code == 409
    reopened = user_client.patch(url, {"status": "active"}, format="json").json()
    assert reopened["status"] == "active" and reopened["completed_at"] is None


def test_status_moves(user_client, project):
    milestone = ProjectMilestoneFactory(project=project)
    url = f"/api/v1/project-milestones/{milestone.pk}/"
    assert user_client.patch(url, {"status": "completed"}, format="json").status_code == 400
    assert user_client.patch(url, {"status": "bogus"}, format="json").status_code == 400
    assert user_client.patch(url, {"status": "cancelled"}, format="json").json()["status"] == "cancelled"
    assert user_client.patch(url, {"status": "active"}, format="json").status_code == 409
    assert user_client.post(f"{url}complete/", {"force": True}, format="json").status_code == 409
    assert user_client.patch(url, {"status": "planned"}, format="json").json()["status"] == "planned"


def test_delete_a_milestone(user_client, project):
    milestone = ProjectMilestoneFactory(project=project)
    assert user_client.delete(f"/api/v1/project-milestones/{milestone.pk}/").status_code == 204
    assert not ProjectMilestone.objects.filter(pk=milestone.pk).exists()


def test_record_task_progress_moves_counters_with_f_expressions(project):
    milestone = ProjectMilestoneFactory(project=project)
    assert services.record_task_progress(milestone_id=milestone.pk, delta_total=3)
    assert services.record_task_progress(milestone_id=milestone.pk, delta_done=2)
    assert services.record_task_progress(milestone_id=milestone.pk, delta_total=-1, delta_done=-1)
    milestone.refresh_from_db()
    assert (milestone.task_total, milestone.task_done, milestone.open_tasks) == (2, 1, 1)
    services.record_task_progress(milestone_id=milestone.pk, delta_done=-5)
    milestone.refresh_from_db()
    assert milestone.task_done == 0  # never below zero
    assert (
        services.record_task_progress(milestone_id="0190a0a0-0000-7000-8000-000000000000", delta_total=1)
        is False
    )


@pytest.mark.parametrize(
    ("role", "write"), [("owner", True), ("admin", True), ("member", False), ("viewer", False)]
)
def test_milestone_writes_need_maintain(network, role, write):
    org = OrganizationFactory(network=network)
    project = OrgProjectFactory(owner_organization=org)
    client = APIClient()
    client.force_login(OrganizationMemberFactory(organization=org, role=role).user)
    milestone = ProjectMilestoneFactory(project=project)
    url = f"/api/v1/project-milestones/{milestone.pk}/"
    assert client.get(url).status_code == 200
    expected = 200 if write else 403
    assert client.patch(url, {"description": "x"}, format="json").status_code == expected
    assert _create(client, project, title="new").status_code == (201 if write else 403)
    assert client.post(f"{url}complete/", {}, format="json").status_code == expected


def test_owner_of_another_network_is_rejected(user_client, project, other_user):
    response = _create(user_client, project, owner=str(other_user.pk))
    assert response.status_code == 400 and "owner" in response.json()


def test_milestone_list_filter_and_query_count(user_client, project, django_assert_max_num_queries):
    for i in range(7):
        ProjectMilestoneFactory(project=project, status="active" if i % 2 else "planned", task_total=i)
    with django_assert_max_num_queries(8):
        response = user_client.get(f"/api/v1/projects/{project.pk}/milestones/")
    assert response.status_code == 200 and len(response.json()["results"]) == 7
    active = user_client.get(f"/api/v1/projects/{project.pk}/milestones/?status=active").json()["results"]
    assert len(active) == 3 and {row["status"] for row in active} == {"active"}
