"""Cross-tenant matrix cases of the projects routes (registry: tests/matrix.py)."""

from __future__ import annotations

from tests.matrix import Ctx, create, detail, exempt
from tests.organizations.factories import OrganizationFactory

from .factories import (
    DatabaseFactory,
    DeploymentFactory,
    ProjectFactory,
    SandboxFactory,
    StorageBucketFactory,
)


def _project(ctx: Ctx):
    return ProjectFactory(owner_user=ctx.user)


@create("project-list")
def _project_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    foreign_org = OrganizationFactory(network=other.network, owner=other.user)
    return {}, {"name": "p", "owner_organization": str(foreign_org.pk)}


@detail("project-detail", methods=("get", "patch", "delete"), body={"name": "renamed"})
def _project_detail(ctx: Ctx) -> dict:
    return {"pk": _project(ctx).pk}


@detail("project-archive", methods=("post",))
def _project_archive(ctx: Ctx) -> dict:
    return {"pk": _project(ctx).pk}


@detail("project-unarchive", methods=("post",))
def _project_unarchive(ctx: Ctx) -> dict:
    return {"pk": ProjectFactory(owner_user=ctx.user, status="archived").pk}


@detail("project-transfer", methods=("post",))
def _project_transfer(ctx: Ctx) -> dict:
    return {"pk": _project(ctx).pk}


_NESTED_BODIES = {
    "project-sandboxes": {"name": "sbx", "image": "python:3.11"},
    "project-deployments": {"environment": "preview"},
    "project-storage-buckets": {"name": "assets"},
    "project-databases": {"name": "main"},
}


def _register_nested(url_name: str, body: dict) -> None:
    @detail(url_name, methods=("get", "post"), body=body)
    def _nested(ctx: Ctx) -> dict:
        return {"project_pk": _project(ctx).pk}

    @create(url_name)
    def _nested_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
        # the parent project is in the other network: 404, nothing written
        return {"project_pk": ProjectFactory(owner_user=other.user, visibility="public").pk}, body


for _name, _body in _NESTED_BODIES.items():
    _register_nested(_name, _body)


@detail("sandbox-detail", methods=("get", "delete"))
def _sandbox(ctx: Ctx) -> dict:
    return {"pk": SandboxFactory(project=_project(ctx), status="stopped").pk}


@detail("sandbox-start", methods=("post",))
def _sandbox_start(ctx: Ctx) -> dict:
    return {"pk": SandboxFactory(project=_project(ctx), status="stopped").pk}


@detail("sandbox-stop", methods=("post",))
def _sandbox_stop(ctx: Ctx) -> dict:
    return {"pk": SandboxFactory(project=_project(ctx), status="running").pk}


@detail("deployment-detail", methods=("get",))
def _deployment(ctx: Ctx) -> dict:
    return {"pk": DeploymentFactory(project=_project(ctx)).pk}


@detail("deployment-cancel", methods=("post",))
def _deployment_cancel(ctx: Ctx) -> dict:
    return {"pk": DeploymentFactory(project=_project(ctx), status="building").pk}


@detail("deployment-redeploy", methods=("post",))
def _deployment_redeploy(ctx: Ctx) -> dict:
    return {"pk": DeploymentFactory(project=_project(ctx), status="live").pk}


@detail("storage-bucket-detail", methods=("get", "delete"))
def _bucket(ctx: Ctx) -> dict:
    return {"pk": StorageBucketFactory(project=_project(ctx), status="failed").pk}


@detail("database-detail", methods=("get", "delete"))
def _database(ctx: Ctx) -> dict:
    return {"pk": DatabaseFactory(project=_project(ctx), status="failed").pk}


_SIGNED = "signed provider callback: no tenant input; the network comes from the sandbox/deployment row"
exempt("webhook-sandbox", _SIGNED)
exempt("webhook-deploy", _SIGNED)


# --- the organization policy walk (tests/matrix.py: org_reached) --------------------------

from tests.matrix import OrgCtx, org_reached  # noqa: E402
from tests.projects.factories import OrgProjectFactory  # noqa: E402


def _org_project(ctx: OrgCtx, **kwargs):
    return OrgProjectFactory(owner_organization=ctx.org, network=ctx.network, **kwargs)


@org_reached(
    "project-list",
    methods=("get", "post"),
    body=lambda ctx: {"name": "p", "owner_organization": str(ctx.org.pk)},
)
def _org_projects(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_project(ctx).pk))
    return {}


@org_reached("project-detail", methods=("get", "patch", "delete"), body={"name": "renamed"})
def _org_project_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_project(ctx).pk}


@org_reached("project-archive", methods=("post",))
def _org_project_archive(ctx: OrgCtx) -> dict:
    return {"pk": _org_project(ctx).pk}


@org_reached("project-unarchive", methods=("post",))
def _org_project_unarchive(ctx: OrgCtx) -> dict:
    return {"pk": _org_project(ctx, status="archived").pk}


@org_reached("project-transfer", methods=("post",), body=lambda ctx: {"owner_user": str(ctx.user.pk)})
def _org_project_transfer(ctx: OrgCtx) -> dict:
    return {"pk": _org_project(ctx).pk}


def _register_org_nested(url_name: str, body: dict) -> None:
    @org_reached(url_name, methods=("get", "post"), body=body)
    def _nested(ctx: OrgCtx) -> dict:
        return {"project_pk": _org_project(ctx).pk}


for _name, _body in _NESTED_BODIES.items():
    _register_org_nested(_name, _body)


@org_reached("sandbox-detail", methods=("get", "delete"))
def _org_sandbox(ctx: OrgCtx) -> dict:
    return {"pk": SandboxFactory(project=_org_project(ctx), status="stopped").pk}


@org_reached("sandbox-start", methods=("post",))
def _org_sandbox_start(ctx: OrgCtx) -> dict:
    return {"pk": SandboxFactory(project=_org_project(ctx), status="stopped").pk}


@org_reached("sandbox-stop", methods=("post",))
def _org_sandbox_stop(ctx: OrgCtx) -> dict:
    return {"pk": SandboxFactory(project=_org_project(ctx), status="running").pk}


@org_reached("deployment-detail", methods=("get",))
def _org_deployment(ctx: OrgCtx) -> dict:
    return {"pk": DeploymentFactory(project=_org_project(ctx)).pk}


@org_reached("deployment-cancel", methods=("post",))
def _org_deployment_cancel(ctx: OrgCtx) -> dict:
    return {"pk": DeploymentFactory(project=_org_project(ctx), status="building").pk}


@org_reached("deployment-redeploy", methods=("post",))
def _org_deployment_redeploy(ctx: OrgCtx) -> dict:
    return {"pk": DeploymentFactory(project=_org_project(ctx), status="live").pk}


@org_reached("storage-bucket-detail", methods=("get", "delete"))
def _org_bucket(ctx: OrgCtx) -> dict:
    return {"pk": StorageBucketFactory(project=_org_project(ctx), status="failed").pk}


@org_reached("database-detail", methods=("get", "delete"))
def _org_database(ctx: OrgCtx) -> dict:
    return {"pk": DatabaseFactory(project=_org_project(ctx), status="failed").pk}


# --- rows with encrypted columns for the admin secrets walk (tests/matrix.py) -------------

from tests.matrix import admin_secret_rows  # noqa: E402


@admin_secret_rows
def _project_secrets(ctx: Ctx) -> None:
    project = ProjectFactory(owner_user=ctx.user, github_token="ghp_walkSecretToken0123456789abcdef")
    SandboxFactory(project=project, access_secret="sandbox-walk-secret-0123456789")
    StorageBucketFactory(
        project=project,
        access_key_id="AKIAWALKSECRET0123",
        secret_access_key="bucket-walk-secret-access-key-0123456789",
    )
    DatabaseFactory(project=project, connection_url="postgresql://walk:db-walk-secret-pw@db.example:5432/x")
