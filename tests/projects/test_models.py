"""Database-level invariants: one owner, slugs unique per owner, live-name and live-deployment uniqueness."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from apps.projects.models import Deployment, Project
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory

from .factories import DeploymentFactory, OrgProjectFactory, ProjectFactory, SandboxFactory

pytestmark = pytest.mark.django_db


def _raw_project(network, **owner) -> None:
    with transaction.atomic():
        Project.objects.create(network=network, name="x", slug="x", **owner)


def test_a_project_without_owner_violates_the_check(network):
    with pytest.raises(IntegrityError, match="project_one_owner"):
        _raw_project(network)


def test_a_project_with_two_owners_violates_the_check(network, user):
    org = OrganizationFactory(network=network)
    with pytest.raises(IntegrityError, match="project_one_owner"):
        _raw_project(network, owner_user=user, owner_organization=org)


def test_slug_is_unique_per_user_owner_but_reusable_by_another_owner(network, user):
    ProjectFactory(owner_user=user, slug="shared")
    ProjectFactory(owner_user=UserFactory(network=network), slug="shared")
    with pytest.raises(IntegrityError, match="project_user_slug_uniq"):
        with transaction.atomic():
            ProjectFactory(owner_user=user, slug="shared")


def test_slug_is_unique_per_organization_owner(network, user):
    org = OrganizationFactory(network=network)
    OrgProjectFactory(owner_organization=org, slug="shared")
    ProjectFactory(owner_user=user, slug="shared")  # a user and an org may share it
    with pytest.raises(IntegrityError, match="project_org_slug_uniq"):
        with transaction.atomic():
            OrgProjectFactory(owner_organization=org, slug="shared")


def test_a_destroyed_sandbox_frees_its_name(user):
    project = ProjectFactory(owner_user=user)
    SandboxFactory(project=project, name="dev", status="destroyed")
    SandboxFactory(project=project, name="dev", status="running")
    with pytest.raises(IntegrityError, match="sandbox_project_name_live_uniq"):
        with transaction.atomic():
            SandboxFactory(project=project, name="dev", status="stopped")


def test_only_one_live_deployment_per_environment(user):
    project = ProjectFactory(owner_user=user)
    DeploymentFactory(project=project, environment="production", status="live")
    DeploymentFactory(project=project, environment="preview", status="live")
    DeploymentFactory(project=project, environment="production", status="superseded")
    with pytest.raises(IntegrityError, match="deployment_project_env_live_uniq"):
        with transaction.atomic():
            DeploymentFactory(project=project, environment="production", status="live")
    assert Deployment.objects.filter(project=project, status="live").count() == 2


def test_github_token_is_stored_encrypted_with_a_hint(user):
    project = ProjectFactory(owner_user=user, github_token="ghp_abcdefghijklmnopqrstuvwxyz0123")
    raw = Project._meta.get_field("github_token").raw_ciphertext(Project.objects.get(pk=project.pk))
    assert raw and b"ghp_" not in raw
    fresh = Project.objects.get(pk=project.pk)
    assert fresh.github_token_hint == "ghp_…0123"
    assert fresh.github_token == "ghp_abcdefghijklmnopqrstuvwxyz0123"
