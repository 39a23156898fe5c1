"""Project factories; every row follows its parent's network.

``ProjectFactory`` is user-owned (a new user unless ``owner_user=`` is given);
``OrgProjectFactory`` is owned by an organization (a new one unless
``owner_organization=`` is given). Infra factories take the project's network.
"""

from __future__ import annotations

import factory

from apps.projects.models import Database, Deployment, Project, Sandbox, StorageBucket
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    owner_user = factory.SubFactory(UserFactory)
    owner_organization = None
    network = factory.LazyAttribute(lambda o: (o.owner_organization or o.owner_user).network)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    visibility = "private"
    repo_url = "https://github.com/colony/example"


class OrgProjectFactory(ProjectFactory):
    owner_user = None
    owner_organization = factory.SubFactory(OrganizationFactory)


class _InfraFactory(factory.django.DjangoModelFactory):
    project = factory.SubFactory(ProjectFactory)
    network = factory.SelfAttribute("project.network")


class SandboxFactory(_InfraFactory):
    class Meta:
        model = Sandbox

    name = factory.Sequence(lambda n: f"sandbox-{n}")
    image = "python:3.11"
    provider = "external"
    status = "running"
    access_secret = "sandbox-access-secret-0123456789"


class DeploymentFactory(_InfraFactory):
    class Meta:
        model = Deployment

    environment = "preview"
    git_ref = "main"
    provider = "external"
    status = "queued"


class StorageBucketFactory(_InfraFactory):
    class Meta:
        model = StorageBucket

    name = factory.Sequence(lambda n: f"bucket-{n}")
    bucket_name = factory.Sequence(lambda n: f"colony-test-bucket-{n}")
    region = "us-east-1"
    provider = "s3"
    status = "ready"


class DatabaseFactory(_InfraFactory):
    class Meta:
        model = Database

    name = factory.Sequence(lambda n: f"db-{n}")
    db_name = factory.Sequence(lambda n: f"cdb_test_{n}")
    role_name = factory.Sequence(lambda n: f"cdr_test_{n}")
    provider = "postgres"
    status = "ready"
