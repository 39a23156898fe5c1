"""Back office lists of the brain; decisions are read-only there."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory

from .factories import ProjectDecisionFactory, ProjectMilestoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(other_network):
    client = Client()
    client.force_login(UserFactory(network=other_network, is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("path", "factory"),
    [("projectdecision", ProjectDecisionFactory), ("projectmilestone", ProjectMilestoneFactory)],
)
def test_changelists_are_query_bounded(staff_client, user, path, factory, django_assert_max_num_queries):
    project = ProjectFactory(owner_user=user)
    for _ in range(6):
        factory(project=project)
    staff_client.get(f"/admin/brain/{path}/")
    with django_assert_max_num_queries(12):
        assert staff_client.get(f"/admin/brain/{path}/").status_code == 200


def test_an_accepted_decision_cannot_be_edited_in_the_admin(staff_client, user):
    decision = ProjectDecisionFactory(
        project=ProjectFactory(owner_user=user), status="accepted", title="Keep"
    )
    url = f"/admin/brain/projectdecision/{decision.pk}/change/"
    assert staff_client.get(url).status_code == 200
    staff_client.post(url, {"title": "Changed"})
    decision.refresh_from_db()
    assert decision.title == "Keep"
