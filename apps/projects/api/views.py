"""``/api/v1/projects/`` and the project's infrastructure.

Visibility first (a private project the caller cannot see is a 404, as is
every row under it), then the level the action needs
(``permissions.require``: 403 for a visible project).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet
from apps.organizations.selectors import active_organization_ids

from .. import permissions, selectors, services
from ..models import Database, Deployment, Project, Sandbox, StorageBucket
from . import serializers as s


def _uuid_param(value: str | None) -> Any:
    if not value:
        return None
    try:
        return serializers.UUIDField().to_internal_value(value)
    except serializers.ValidationError:
        return False


@extend_schema(tags=["projects"])
class ProjectViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Projects you can see: yours, your organizations', and every network/public one."""

    queryset = Project.objects.all()
    serializer_class = s.ProjectSerializer
    scope_resource = "projects"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Project]) -> QuerySet[Project]:
        qs = selectors.visible_projects(qs, viewer=self.request.user)
        if self.action != "list":
            return qs
        params = self.request.query_params
        for name in ("owner_user", "owner_organization"):
            value = _uuid_param(params.get(name))
            if value is False:
                return qs.none()
            if value is not None:
                qs = qs.filter(**{name: value})
        for name, choices in (("visibility", Project.Visibility.values), ("status", Project.Status.values)):
            value = params.get(name)
            if value:
                qs = qs.filter(**{name: value}) if value in choices else qs.none()
        if params.get("mine") in ("true", "1"):
            user = self.request.user
            qs = qs.filter(Q(owner_user=user) | Q(owner_organization__in=active_organization_ids(user)))
        q = (params.get("q") or "").strip()[:100]
        if q:
            qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q))
        return qs

    def _read(self, project: Project, *, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.ProjectSerializer(project, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("owner_user", OpenApiTypes.UUID),
            OpenApiParameter("owner_organization", OpenApiTypes.UUID),
            OpenApiParameter("visibility", OpenApiTypes.STR, enum=Project.Visibility.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Project.Status.values),
            OpenApiParameter("mine", OpenApiTypes.BOOL, description="Only yours and your organizations'"),
            OpenApiParameter("q", OpenApiTypes.STR, description="Name or slug contains"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.ProjectCreateSerializer, responses={201: s.ProjectSerializer})
    def create(self, request: Request) -> Response:
        serializer = s.ProjectCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        project = services.create_project(actor=request.user, **serializer.validated_data)
        return self._read(project, code=status.HTTP_201_CREATED)

    @extend_schema(request=s.ProjectUpdateSerializer, responses=s.ProjectSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        permissions.require(request.user, project, "project.edit")
        serializer = s.ProjectUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "visibility" in data and data["visibility"] != project.visibility:
            permissions.require(request.user, project, "project.archive")
        project = services.update_project(actor=request.user, project=project, **data)
        return self._read(project)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        permissions.require(request.user, project, "project.delete")
        services.delete_project(actor=request.user, project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.ProjectSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        permissions.require(request.user, project, "project.archive")
        return self._read(services.archive_project(actor=request.user, project=project))

    @extend_schema(request=None, responses=s.ProjectSerializer)
    @action(detail=True, methods=["post"])
    def unarchive(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        permissions.require(request.user, project, "project.archive")
        return self._read(services.unarchive_project(actor=request.user, project=project))

    @extend_schema(request=s.ProjectTransferSerializer, responses=s.ProjectSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        permissions.require(request.user, project, "project.transfer")
        serializer = s.ProjectTransferSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        project = services.transfer_project(actor=request.user, project=project, **serializer.validated_data)
        return self._read(project)


# --- rows of a project (its infrastructure here; the brain's decisions and milestones) -------


# (comments, not docstrings: a docstring here would become the schema's description of subclasses)
class ProjectNestedViewSet(NetworkScopedViewSet, ListModelMixin):
    # /projects/{project_pk}/<rows>/: the rows of a project the caller can see (else 404);
    # the project's organization (its policy) is checked by the base chain
    organization_url_kwarg = "project_pk"

    @cached_property
    def project(self) -> Project:
        return selectors.project_for(
            network=self.network, viewer=self.request.user, pk=self.kwargs["project_pk"]
        )

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(project=self.project)


class ProjectRowViewSet(NetworkScopedViewSet, mixins.RetrieveModelMixin):
    # /<rows>/{pk}/: a row whose project the caller can see (else 404)

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return selectors.visible_rows(qs, viewer=self.request.user).select_related("project")

    def _row(self, permission: str) -> Any:
        row = self.get_object()
        permissions.require(self.request.user, row.project, permission)
        return row


# --- /projects/{project_pk}/<infra>/ ---------------------------------------------------------


class _ProjectInfraViewSet(ProjectNestedViewSet):
    """List and create one kind of infrastructure under a visible project."""

    scope_resource = "projects"
    scope_map: ClassVar[dict[str, str]] = {"create": "infra:write"}
    create_serializer_class: ClassVar[type[serializers.Serializer]]
    create_permission: ClassVar[str] = "infra.manage"

    def perform_create_row(self, project: Project, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def create(self, request: Request, project_pk: str) -> Response:
        project = self.project
        permissions.require(request.user, project, self.create_permission)
        serializer = self.create_serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = self.perform_create_row(project, dict(serializer.validated_data))
        data = self.get_serializer(row).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["projects"])
class ProjectSandboxViewSet(_ProjectInfraViewSet):
    queryset = Sandbox.objects.all()
    serializer_class = s.SandboxSerializer
    create_serializer_class = s.SandboxCreateSerializer
    create_permission = "sandboxes.run"

    @extend_schema(request=s.SandboxCreateSerializer, responses={202: s.SandboxSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        return super().create(request, project_pk)

    def perform_create_row(self, project: Project, data: dict[str, Any]) -> Sandbox:
        return services.create_sandbox(actor=self.request.user, project=project, **data)


@extend_schema(tags=["projects"])
class ProjectDeploymentViewSet(_ProjectInfraViewSet):
    queryset = Deployment.objects.all()
    serializer_class = s.DeploymentSerializer
    create_serializer_class = s.DeploymentCreateSerializer
    create_permission = "deployments.manage"
    scope_map = {"create": "projects:deploy"}

    @extend_schema(request=s.DeploymentCreateSerializer, responses={202: s.DeploymentSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        return super().create(request, project_pk)

    def perform_create_row(self, project: Project, data: dict[str, Any]) -> Deployment:
        return services.create_deployment(actor=self.request.user, project=project, **data)


@extend_schema(tags=["projects"])
class ProjectStorageBucketViewSet(_ProjectInfraViewSet):
    queryset = StorageBucket.objects.all()
    serializer_class = s.StorageBucketSerializer
    create_serializer_class = s.StorageBucketCreateSerializer

    @extend_schema(request=s.StorageBucketCreateSerializer, responses={202: s.StorageBucketSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        return super().create(request, project_pk)

    def perform_create_row(self, project: Project, data: dict[str, Any]) -> StorageBucket:
        return services.create_bucket(actor=self.request.user, project=project, **data)


@extend_schema(tags=["projects"])
class ProjectDatabaseViewSet(_ProjectInfraViewSet):
    queryset = Database.objects.all()
    serializer_class = s.DatabaseSerializer
    create_serializer_class = s.DatabaseCreateSerializer

    @extend_schema(request=s.DatabaseCreateSerializer, responses={202: s.DatabaseSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        return super().create(request, project_pk)

    def perform_create_row(self, project: Project, data: dict[str, Any]) -> Database:
        return services.create_database(actor=self.request.user, project=project, **data)


# --- /sandboxes/{pk}/, /deployments/{pk}/, /storage-buckets/{pk}/, /databases/{pk}/ ---------


class _InfraDetailViewSet(ProjectRowViewSet):
    scope_resource = "projects"

    def _read(self, row: Any, *, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(row).data, status=code)


@extend_schema(tags=["projects"])
class SandboxViewSet(_InfraDetailViewSet, mixins.DestroyModelMixin):
    queryset = Sandbox.objects.all()
    serializer_class = s.SandboxSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    scope_map = {"start": "infra:write", "stop": "infra:write", "destroy": "infra:write"}

    @extend_schema(responses={202: s.SandboxSerializer})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        sandbox = self._row("sandboxes.run")
        return self._read(
            services.destroy_sandbox(actor=request.user, sandbox=sandbox), code=status.HTTP_202_ACCEPTED
        )

    @extend_schema(request=None, responses=s.SandboxSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        sandbox = self._row("sandboxes.run")
        return self._read(services.start_sandbox(actor=request.user, sandbox=sandbox))

    @extend_schema(request=None, responses=s.SandboxSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        sandbox = self._row("sandboxes.run")
        return self._read(services.stop_sandbox(actor=request.user, sandbox=sandbox))


@extend_schema(tags=["projects"])
class DeploymentViewSet(_InfraDetailViewSet):
    queryset = Deployment.objects.all()
    serializer_class = s.DeploymentSerializer
    http_method_names = ["get", "post", "head", "options"]
    scope_map = {"cancel": "projects:deploy", "redeploy": "projects:deploy"}

    @extend_schema(request=None, responses=s.DeploymentSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        deployment = self._row("deployments.manage")
        return self._read(services.cancel_deployment(actor=request.user, deployment=deployment))

    @extend_schema(request=None, responses={202: s.DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def redeploy(self, request: Request, pk: str | None = None) -> Response:
        deployment = self._row("deployments.manage")
        fresh = services.redeploy(actor=request.user, deployment=deployment)
        return self._read(fresh, code=status.HTTP_202_ACCEPTED)


class _ResourceDetailViewSet(_InfraDetailViewSet, mixins.DestroyModelMixin):
    http_method_names = ["get", "delete", "head", "options"]
    scope_map = {"destroy": "infra:write"}

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        resource = self._row("infra.manage")
        return self._read(
            services.delete_resource(actor=request.user, resource=resource), code=status.HTTP_202_ACCEPTED
        )


@extend_schema(tags=["projects"])
class StorageBucketViewSet(_ResourceDetailViewSet):
    queryset = StorageBucket.objects.all()
    serializer_class = s.StorageBucketSerializer

    @extend_schema(responses={202: s.StorageBucketSerializer})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        return super().destroy(request, pk)


@extend_schema(tags=["projects"])
class DatabaseViewSet(_ResourceDetailViewSet):
    queryset = Database.objects.all()
    serializer_class = s.DatabaseSerializer

    @extend_schema(responses={202: s.DatabaseSerializer})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        return super().destroy(request, pk)
