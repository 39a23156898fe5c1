"""Project decisions (ADRs): numbering, transitions, immutability, permissions, search."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.brain import services
from apps.brain.models import ProjectDecision
from apps.projects.models import Project
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory
from tests.projects.factories import OrgProjectFactory, ProjectFactory

from .factories import ProjectDecisionFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


def _propose(client, project, **body):
    return client.post(f"/api/v1/projects/{project.pk}/decisions/", {"title": "t", **body}, format="json")


def test_decisions_are_numbered_per_project(user_client, project, user):
    first = _propose(user_client, project, title="Use PostgreSQL", tags=["DB", "db", " infra "])
    assert first.status_code == 201, first.json()
    body = first.json()
    assert (body["number"], body["status"], body["author"]) == (1, "proposed", str(user.pk))
    assert body["tags"] == ["db", "infra"]
    assert _propose(user_client, project).json()["number"] == 2
    other_project = ProjectFactory(owner_user=user)
    assert _propose(user_client, other_project).json()["number"] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_proposals_get_distinct_consecutive_numbers(network):
    user = UserFactory(network=network)
    project = ProjectFactory(owner_user=user)
    barrier = threading.Barrier(6)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def propose(i: int) -> None:
        try:
            barrier.wait(10)
            decision = services.propose_decision(
                actor=user, project=Project.objects.get(pk=project.pk), title=f"d{i}"
            )
            numbers.append(decision.number)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=propose, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]


def test_accept_reject_deprecate_and_illegal_moves_are_409(user_client, project, user):
    decision = ProjectDecisionFactory(project=project, author=user)
    url = f"/api/v1/project-decisions/{decision.pk}/"
    assert user_client.post(f"{url}deprecate/").status_code == 409
    accepted = user_client.post(f"{url}accept/")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted" and accepted.json()["decided_by"] == str(user.pk)
    assert accepted.json()["decided_at"]
    again = user_client.post(f"{url}accept/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert user_client.post(f"{url}reject/").status_code == 409
    assert user_client.post(f"{url}deprecate/").json()["status"] == "deprecated"
    rejected = ProjectDecisionFactory(project=project)
    assert user_client.post(f"/api/v1/project-decisions/{rejected.pk}/reject/").json()["status"] == "rejected"
    assert user_client.post(f"/api/v1/project-decisions/{rejected.pk}/accept/").status_code == 409


def test_accepting_a_successor_supersedes_the_old_decision(user_client, project):
    old = ProjectDecisionFactory(project=project, status="accepted")
    successor = _propose(user_client, project, title="New way", supersedes=str(old.pk)).json()
    assert successor["supersedes"] == str(old.pk)
    assert ProjectDecision.objects.get(pk=old.pk).status == "accepted"  # until the successor is accepted
    assert user_client.post(f"/api/v1/project-decisions/{successor['id']}/accept/").status_code == 200
    assert ProjectDecision.objects.get(pk=old.pk).status == "superseded"


def test_successor_of_a_no_longer_accepted_decision_cannot_be_accepted(user_client, project):
    old = ProjectDecisionFactory(project=project, status="accepted")
    successor = ProjectDecisionFactory(project=project, supersedes=old)
    ProjectDecision.objects.filter(pk=old.pk).update(status="deprecated")
    response = user_client.post(f"/api/v1/project-decisions/{successor.pk}/accept/")
    assert response.status_code == 409
    assert ProjectDecision.objects.get(pk=successor.pk).status == "proposed"  # rolled back


def test_supersedes_must_be_of_the_same_project(user_client, project, user):
    foreign = ProjectDecisionFactory(project=ProjectFactory(owner_user=user))
    response = _propose(user_client, project, supersedes=str(foreign.pk))
    assert response.status_code == 400 and "supersedes" in response.json()


def test_supersedes_of_another_network_reads_as_missing(user_client, project, other_user):
    foreign = ProjectDecisionFactory(project=ProjectFactory(owner_user=other_user))
    response = _propose(user_client, project, supersedes=str(foreign.pk))
    assert response.status_code == 400 and "does not exist" in str(response.json()["supersedes"])


def test_editing_the_decision_text_itself_works(user_client, project, user):
    decision = ProjectDecisionFactory(project=project, author=user)
    url = f"/api/v1/project-decisions/{decision.pk}/"
    response = user_client.patch(url, {"decision": "Use PostgreSQL"}, format="json")
    assert response.status_code == 200
    assert response.json()["decision"] == "Use PostgreSQL"


def test_proposed_is_editable_accepted_is_immutable(user_client, project, user):
    decision = ProjectDecisionFactory(project=project, author=user)
    url = f"/api/v1/project-decisions/{decision.pk}/"
    edited = user_client.patch(url, {"title": "Better title", "links": {"prs": [12]}}, format="json")
    assert edited.status_code == 200 and edited.json()["title"] == "Better title"
    assert edited.json()["links"] == {"prs": [12]}
    user_client.post(f"{url}accept/")
    frozen = user_client.patch(url, {"title": "Sneaky"}, format="json")
    assert frozen.status_code == 409
    assert ProjectDecision.objects.get(pk=decision.pk).title == "Better title"


@pytest.mark.parametrize(
    ("role", "propose", "edit_others", "edit_own", "accept"),
    [
        ("member", 201, 403, 200, 403),
        ("viewer", 403, 403, None, 403),
        ("admin", 201, 200, 200, 200),
    ],
)
def test_brain_levels_by_org_role(network, role, propose, edit_others, edit_own, accept):
    org = OrganizationFactory(network=network)
    project = OrgProjectFactory(owner_organization=org)
    actor = OrganizationMemberFactory(organization=org, role=role).user
    client = _client(actor)
    assert _propose(client, project).status_code == propose
    others = ProjectDecisionFactory(project=project, author=UserFactory(network=network))
    assert (
        client.patch(f"/api/v1/project-decisions/{others.pk}/", {"title": "x"}, format="json").status_code
        == edit_others
    )
    if edit_own:
        own = ProjectDecisionFactory(project=project, author=actor)
        assert (
            client.patch(f"/api/v1/project-decisions/{own.pk}/", {"title": "y"}, format="json").status_code
            == edit_own
        )
    assert client.post(f"/api/v1/project-decisions/{others.pk}/accept/").status_code == accept


def test_decisions_of_an_invisible_project_are_404(network, user_client):
    private = ProjectFactory(owner_user=UserFactory(network=network))
    decision = ProjectDecisionFactory(project=private)
    assert user_client.get(f"/api/v1/projects/{private.pk}/decisions/").status_code == 404
    assert user_client.get(f"/api/v1/project-decisions/{decision.pk}/").status_code == 404
    assert _propose(user_client, private).status_code == 404


def test_list_filters_by_search_status_and_tag(user_client, project):
    db = ProjectDecisionFactory(
        project=project, title="Adopt PostgreSQL", context="Relational data", tags=["db"]
    )
    cache = ProjectDecisionFactory(
        project=project, title="Adopt Redis for caching", status="accepted", tags=["cache"]
    )
    ProjectDecisionFactory(
        project=project, title="Unrelated", context="nothing", decision="x", consequences="y"
    )
    url = f"/api/v1/projects/{project.pk}/decisions/"

    def ids(query: str) -> list[str]:
        response = user_client.get(f"{url}?{query}")
        assert response.status_code == 200
        return sorted(row["id"] for row in response.json()["results"])

    assert ids("q=postgresql") == [str(db.pk)]
    assert ids("q=caching") == [str(cache.pk)]
    assert ids("status=accepted") == [str(cache.pk)]
    assert ids("tag=db") == [str(db.pk)]
    assert ids("q=adopt -redis") == [str(db.pk)]
    assert ids("status=nope") == []


def test_decision_list_query_count_is_constant(user_client, project, django_assert_max_num_queries):
    old = ProjectDecisionFactory(project=project, status="accepted")
    for _ in range(8):
        ProjectDecisionFactory(project=project, supersedes=old, tags=["a", "b"])
    with django_assert_max_num_queries(8):
        response = user_client.get(f"/api/v1/projects/{project.pk}/decisions/")
    assert response.status_code == 200 and len(response.json()["results"]) == 9


def test_archived_project_takes_no_new_decisions(user_client, user):
    project = ProjectFactory(owner_user=user, status="archived")
    assert _propose(user_client, project).status_code == 409


def test_bad_input_is_400(user_client, project):
    response = _propose(user_client, project, title="", links=["not", "an", "object"], tags=["x" * 41])
    assert response.status_code == 400 and {"title", "links", "tags"} <= set(response.json())
