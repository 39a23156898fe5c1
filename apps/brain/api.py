"""``/api/v1/projects/{id}/decisions|milestones/``, ``/project-decisions/``, ``/project-milestones/``.

Reading needs view on the project (invisible → 404); proposing a decision
needs contribute (its author may edit it while proposed); accepting,
rejecting, deprecating and every milestone write need maintain.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import User
from apps.core.api import NetworkScopedRelatedField
from apps.core.serializers import FastReadMixin
from apps.projects import permissions
from apps.projects.api.serializers import status_field
from apps.projects.api.views import ProjectNestedViewSet, ProjectRowViewSet

from . import services
from .models import DecisionStatus, MilestoneStatus, ProjectDecision, ProjectMilestone

MAX_LINKS_BYTES = 16 * 1024


class ProjectDecisionSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(DecisionStatus)

    class Meta:
        model = ProjectDecision
        fields = (
            "id",
            "project",
            "number",
            "title",
            "context",
            "decision",
            "consequences",
            "status",
            "supersedes",
            "tags",
            "links",
            "author",
            "decided_by",
            "decided_at",
            "agent_decision_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


def _validate_links(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise serializers.ValidationError('Links are a JSON object (e.g. {"tasks": [...], "prs": [...]}).')
    if len(json.dumps(value)) > MAX_LINKS_BYTES:
        raise serializers.ValidationError(f"Links are limited to {MAX_LINKS_BYTES} bytes.")
    return value


class DecisionWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    context = serializers.CharField(max_length=50000, required=False, allow_blank=True)
    decision = serializers.CharField(max_length=50000, required=False, allow_blank=True)
    consequences = serializers.CharField(max_length=50000, required=False, allow_blank=True)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), max_length=20, required=False, allow_empty=True
    )
    links = serializers.JSONField(
        required=False, validators=[_validate_links], help_text="Tasks, PRs, messages…"
    )
    supersedes = NetworkScopedRelatedField(
        queryset=ProjectDecision.objects.all(),
        required=False,
        allow_null=True,
        help_text="A decision of the same project that this one replaces once accepted.",
    )


class DecisionUpdateSerializer(DecisionWriteSerializer):
    title = serializers.CharField(max_length=200, required=False)


class ProjectMilestoneSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(MilestoneStatus)
    open_tasks = serializers.IntegerField(read_only=True)

    class Meta:
        model = ProjectMilestone
        fields = (
            "id",
            "project",
            "title",
            "description",
            "status",
            "starts_on",
            "due_on",
            "completed_at",
            "position",
            "owner",
            "task_total",
            "task_done",
            "open_tasks",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


def _validate_milestone_status(value: str) -> str:
    if value not in (MilestoneStatus.PLANNED, MilestoneStatus.ACTIVE, MilestoneStatus.CANCELLED):
        raise serializers.ValidationError("Choose planned, active or cancelled.")
    return value


class MilestoneWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=50000, required=False, allow_blank=True)
    status = serializers.CharField(
        required=False,
        validators=[_validate_milestone_status],
        help_text="planned, active or cancelled: planned ⇄ active, → cancelled (→ planned again); "
        "completing is the complete action.",
    )
    starts_on = serializers.DateField(required=False, allow_null=True)
    due_on = serializers.DateField(required=False, allow_null=True)
    position = serializers.IntegerField(required=False, min_value=-1_000_000, max_value=1_000_000)
    owner = NetworkScopedRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )


class MilestoneUpdateSerializer(MilestoneWriteSerializer):
    title = serializers.CharField(max_length=200, required=False)


class MilestoneCompleteSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Complete even with open tasks.")


class _ProjectChildViewSet(ProjectNestedViewSet):
    scope_resource = "brain"


@extend_schema(tags=["brain"])
class ProjectDecisionListViewSet(_ProjectChildViewSet):
    """A project's decision records (ADRs)."""

    queryset = ProjectDecision.objects.all()
    serializer_class = ProjectDecisionSerializer

    def scope_queryset(self, qs: QuerySet[ProjectDecision]) -> QuerySet[ProjectDecision]:
        qs = super().scope_queryset(qs)
        params = self.request.query_params
        state = params.get("status")
        if state:
            qs = qs.filter(status=state) if state in DecisionStatus.values else qs.none()
        tag = (params.get("tag") or "").strip().lower()[:40]
        if tag:
            qs = qs.filter(tags__contains=[tag])
        q = (params.get("q") or "").strip()[:200]
        if q:
            qs = qs.filter(search_vector=SearchQuery(q, search_type="websearch", config="english"))
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Full-text search (web search syntax)"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=DecisionStatus.values),
            OpenApiParameter("tag", OpenApiTypes.STR),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=DecisionWriteSerializer, responses={201: ProjectDecisionSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        project = self.project
        permissions.require(request.user, project, "brain.propose")
        serializer = DecisionWriteSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        decision = services.propose_decision(actor=request.user, project=project, **serializer.validated_data)
        return Response(ProjectDecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["brain"])
class ProjectMilestoneListViewSet(_ProjectChildViewSet):
    """A project's milestones."""

    queryset = ProjectMilestone.objects.all()
    serializer_class = ProjectMilestoneSerializer

    def scope_queryset(self, qs: QuerySet[ProjectMilestone]) -> QuerySet[ProjectMilestone]:
        qs = super().scope_queryset(qs)
        state = self.request.query_params.get("status")
        if state:
            qs = qs.filter(status=state) if state in MilestoneStatus.values else qs.none()
        return qs

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=MilestoneStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=MilestoneWriteSerializer, responses={201: ProjectMilestoneSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        project = self.project
        permissions.require(request.user, project, "brain.milestones")
        serializer = MilestoneWriteSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        milestone = services.create_milestone(
            actor=request.user, project=project, **serializer.validated_data
        )
        return Response(ProjectMilestoneSerializer(milestone).data, status=status.HTTP_201_CREATED)


class _BrainDetailViewSet(ProjectRowViewSet):
    scope_resource = "brain"


@extend_schema(tags=["brain"])
class ProjectDecisionViewSet(_BrainDetailViewSet):
    queryset = ProjectDecision.objects.all()
    serializer_class = ProjectDecisionSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(request=DecisionUpdateSerializer, responses=ProjectDecisionSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        decision = self.get_object()
        level = permissions.require(request.user, decision.project, "brain.propose")
        if decision.author_id != request.user.pk and level < permissions.Level.MAINTAIN:
            permissions.require(request.user, decision.project, "brain.decide")
        serializer = DecisionUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        decision = services.update_decision(
            actor=request.user, decision=decision, changes=serializer.validated_data
        )
        return Response(ProjectDecisionSerializer(decision).data)

    @extend_schema(request=None, responses=ProjectDecisionSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        decision = self._row("brain.decide")
        return Response(
            ProjectDecisionSerializer(services.accept_decision(actor=request.user, decision=decision)).data
        )

    @extend_schema(request=None, responses=ProjectDecisionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        decision = self._row("brain.decide")
        return Response(
            ProjectDecisionSerializer(services.reject_decision(actor=request.user, decision=decision)).data
        )

    @extend_schema(request=None, responses=ProjectDecisionSerializer)
    @action(detail=True, methods=["post"])
    def deprecate(self, request: Request, pk: str | None = None) -> Response:
        decision = self._row("brain.decide")
        return Response(
            ProjectDecisionSerializer(services.deprecate_decision(actor=request.user, decision=decision)).data
        )


@extend_schema(tags=["brain"])
class ProjectMilestoneViewSet(_BrainDetailViewSet, mixins.DestroyModelMixin):
    queryset = ProjectMilestone.objects.all()
    serializer_class = ProjectMilestoneSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=MilestoneUpdateSerializer, responses=ProjectMilestoneSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        milestone = self._row("brain.milestones")
        serializer = MilestoneUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        milestone = services.update_milestone(
            actor=request.user, milestone=milestone, **serializer.validated_data
        )
        return Response(ProjectMilestoneSerializer(milestone).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        milestone = self._row("brain.milestones")
        services.delete_milestone(actor=request.user, milestone=milestone)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=MilestoneCompleteSerializer, responses=ProjectMilestoneSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        milestone = self._row("brain.milestones")
        serializer = MilestoneCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        milestone = services.complete_milestone(
            actor=request.user, milestone=milestone, force=serializer.validated_data["force"]
        )
        return Response(ProjectMilestoneSerializer(milestone).data)
