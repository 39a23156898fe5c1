"""Beat jobs and the organization archive hook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.projects import services, tasks
from apps.projects.models import Database, Deployment, Project, Sandbox, StorageBucket
from tests.organizations.factories import OrganizationFactory

from .factories import (
    DatabaseFactory,
    DeploymentFactory,
    OrgProjectFactory,
    ProjectFactory,
    SandboxFactory,
    StorageBucketFactory,
)

pytestmark = pytest.mark.django_db


def _age(model, row, minutes: int) -> None:
    model.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))


def test_reap_stops_only_sandboxes_idle_past_their_ttl(user, django_capture_on_commit_callbacks):
    project = ProjectFactory(owner_user=user)
    now = timezone.now()
    idle = SandboxFactory(project=project, idle_ttl_min=30, last_active_at=now - timedelta(minutes=31))
    busy = SandboxFactory(project=project, idle_ttl_min=30, last_active_at=now - timedelta(minutes=29))
    never_active = SandboxFactory(project=project, idle_ttl_min=5, last_active_at=None)
    _age(Sandbox, never_active, 6)
    stopped = SandboxFactory(project=project, status="stopped", last_active_at=now - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.reap_idle_sandboxes.delay().get() == 2
    statuses = dict(Sandbox.objects.values_list("pk", "status"))
    assert statuses[idle.pk] == "stopped" and statuses[never_active.pk] == "stopped"
    assert statuses[busy.pk] == "running" and statuses[stopped.pk] == "stopped"
    assert tasks.reap_idle_sandboxes.delay().get() == 0  # idempotent


def test_reap_skips_suspended_networks(user, network):
    sandbox = SandboxFactory(
        project=ProjectFactory(owner_user=user),
        idle_ttl_min=5,
        last_active_at=timezone.now() - timedelta(hours=1),
    )
    network.status = "suspended"
    network.save()
    assert services.reap_idle_sandboxes() == 0
    assert Sandbox.objects.get(pk=sandbox.pk).status == "running"


def test_reconcile_fails_rows_stuck_more_than_15_minutes(user):
    project = ProjectFactory(owner_user=user)
    stuck = [
        (Sandbox, SandboxFactory(project=project, status="provisioning")),
        (Deployment, DeploymentFactory(project=project, status="building")),
        (StorageBucket, StorageBucketFactory(project=project, status="provisioning")),
        (Database, DatabaseFactory(project=project, status="deleting")),
    ]
    recent = SandboxFactory(project=project, status="requested")
    settled = StorageBucketFactory(project=project, status="ready")
    for model, row in stuck:
        _age(model, row, 16)
    _age(StorageBucket, settled, 120)
    assert tasks.reconcile_provisioning.delay().get() == 4
    for _model, row in stuck:
        row.refresh_from_db()
        assert row.status == "failed" and "stuck" in row.status_detail
    assert Sandbox.objects.get(pk=recent.pk).status == "requested"
    assert StorageBucket.objects.get(pk=settled.pk).status == "ready"
    assert Deployment.objects.get(pk=stuck[1][1].pk).error
    assert tasks.reconcile_provisioning.delay().get() == 0


def test_provisioning_tasks_are_idempotent(user):
    project = ProjectFactory(owner_user=user)
    running = SandboxFactory(project=project, status="running")
    assert tasks.provision_sandbox.delay(str(running.pk)).get() == "skipped"
    ready = StorageBucketFactory(project=project, status="ready")
    assert tasks.provision_resource.delay("storagebucket", str(ready.pk)).get() == "skipped"
    assert tasks.destroy_resource.delay("storagebucket", str(ready.pk)).get() == "skipped"
    live = DeploymentFactory(project=project, status="live")
    assert tasks.start_deployment.delay(str(live.pk)).get() == "skipped"


def test_archiving_an_organization_archives_its_projects(network):
    org = OrganizationFactory(network=network)
    active = OrgProjectFactory(owner_organization=org)
    sandbox = SandboxFactory(project=active, status="running")
    already = OrgProjectFactory(owner_organization=org, status="archived")
    elsewhere = OrgProjectFactory(owner_organization=OrganizationFactory(network=network))
    assert services.archive_organization_projects(organization=org) == 1
    assert Project.objects.get(pk=active.pk).status == "archived"
    assert Project.objects.get(pk=already.pk).status == "archived"
    assert Project.objects.get(pk=elsewhere.pk).status == "active"
    assert Sandbox.objects.get(pk=sandbox.pk).status == "stopped"


def test_the_organizations_archive_service_archives_projects_through_the_signal(network, user):
    from apps.organizations.services import archive_organization

    org = OrganizationFactory(network=network, owner=user)
    project = OrgProjectFactory(owner_organization=org)
    archive_organization(actor=user, organization=org)
    assert Project.objects.get(pk=project.pk).status == "archived"
    assert AuditEvent.objects.filter(
        action="project.archived", target_id=project.pk, organization=org
    ).exists()
