"""AgentProjectAccess is the only source of an agent's project level."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.core.exceptions import NotFound, PermissionDenied
from apps.projects import permissions
from apps.projects.models import Project
from apps.projects.permissions import Level, project_level
from apps.projects.selectors import visible_projects
from tests.accounts.factories import AgentFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory
from tests.projects.factories import OrgProjectFactory, ProjectFactory

from .factories import AgentProjectAccessFactory

pytestmark = pytest.mark.django_db


def test_agent_without_a_grant_has_no_level_even_on_its_owners_project(user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    project = ProjectFactory(owner_user=user)
    assert project_level(agent, project) == Level.NONE
    with pytest.raises(NotFound):
        permissions.require(agent, project, "project.view")


def test_org_membership_gives_an_agent_no_project_level(network):
    org = OrganizationFactory(network=network)
    agent = AgentFactory(network=network, agent_owner_user=None, agent_owner_organization=org)
    OrganizationMemberFactory(organization=org, user=agent, role="member")
    assert project_level(agent, OrgProjectFactory(owner_organization=org)) == Level.NONE


@pytest.mark.parametrize(
    ("role", "level"), [("read", Level.VIEW), ("contribute", Level.CONTRIBUTE), ("maintain", Level.MAINTAIN)]
)
def test_grant_role_is_the_level(user, role, level):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    project = ProjectFactory(owner_user=user)
    AgentProjectAccessFactory(agent=agent, project=project, role=role)
    assert project_level(agent, project) == level


def test_expired_grant_counts_for_nothing(user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    project = ProjectFactory(owner_user=user)
    AgentProjectAccessFactory(
        agent=agent, project=project, expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert project_level(agent, project) == Level.NONE
    assert not visible_projects(Project.objects.all(), viewer=agent).exists()


def test_read_grant_cannot_contribute(user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    project = ProjectFactory(owner_user=user)
    AgentProjectAccessFactory(agent=agent, project=project, role="read")
    with pytest.raises(PermissionDenied):
        permissions.require(agent, project, "brain.propose")
    assert list(visible_projects(Project.objects.all(), viewer=agent)) == [project]


def test_open_projects_are_visible_to_agents(user):
    agent = AgentFactory(network=user.network, agent_owner_user=user)
    project = ProjectFactory(owner_user=user, visibility="network")
    assert project_level(agent, project) == Level.VIEW


def test_grant_api_needs_maintain_on_the_project(user_client, user, network):
    agent = AgentFactory(network=network, agent_owner_user=user)
    mine = ProjectFactory(owner_user=user)
    theirs = ProjectFactory(owner_user__network=network, visibility="network")
    url = f"/api/v1/agents/{agent.pk}/project-access/"
    response = user_client.post(url, {"project": str(mine.pk), "role": "contribute"}, format="json")
    assert response.status_code == 201 and response.json()["role"] == "contribute"
    assert (
        user_client.post(url, {"project": str(theirs.pk), "role": "read"}, format="json").status_code == 403
    )
    access_id = response.json()["id"]
    assert user_client.get(url).json()["results"][0]["id"] == access_id
    assert user_client.delete(f"/api/v1/agent-project-access/{access_id}/").status_code == 204
    assert project_level(agent, mine) == Level.NONE
    from apps.agents.models import AgentChangeLog

    assert AgentChangeLog.objects.filter(agent=agent, change="access").count() == 2
