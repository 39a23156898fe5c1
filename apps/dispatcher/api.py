"""Dispatcher routes (SCHEMA.md §14 REST). Rows are reached through a project the caller can
see (else 404); writes check the project level in the services; state conflicts are 409."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.brain.models import ProjectMilestone
from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet
from apps.core.exceptions import NotFound
from apps.core.serializers import FastReadMixin
from apps.projects import permissions as project_permissions
from apps.projects.api.serializers import status_field
from apps.projects.api.views import ProjectNestedViewSet, ProjectRowViewSet

from . import services
from .models import (
    ChallengeReason,
    ChallengeStatus,
    CheckKind,
    ClaimableBy,
    ClaimStatus,
    DispatcherMode,
    DispatcherState,
    OutcomeCheck,
    OutcomeStatus,
    RoadmapChallenge,
    RoadmapTask,
    RunStatus,
    SignalLog,
    TaskClaim,
    TaskDependency,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    VerificationRun,
)

# --- serializers ------------------------------------------------------------------------------


class RoadmapTaskSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(TaskStatus)

    class Meta:
        model = RoadmapTask
        fields = (
            "id", "project", "parent", "milestone", "title", "description", "kind", "priority", "status", "labels",
            "required_capabilities", "claimable_by", "estimate_points", "due_at", "lease_seconds", "max_attempts",
            "attempt_count", "requires_human_review", "challenge_window_hours", "accepted_at", "done_at", "position",
            "created_by", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


def _task_scope(qs: QuerySet, request: Any) -> QuerySet:
    return qs.filter(project_permissions.visible_q(request.user, prefix="project__"))


class TaskWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=50000, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=TaskKind.choices, required=False)
    priority = serializers.IntegerField(min_value=0, max_value=4, required=False)
    labels = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, required=False)
    required_capabilities = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=20, required=False
    )
    claimable_by = serializers.ChoiceField(choices=ClaimableBy.choices, required=False)
    estimate_points = serializers.IntegerField(min_value=0, max_value=1000, required=False, allow_null=True)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    lease_seconds = serializers.IntegerField(min_value=60, max_value=7 * 24 * 3600, required=False)
    max_attempts = serializers.IntegerField(min_value=1, max_value=20, required=False)
    requires_human_review = serializers.BooleanField(required=False)
    challenge_window_hours = serializers.IntegerField(min_value=0, max_value=24 * 30, required=False)
    position = serializers.FloatField(required=False)
    milestone = NetworkScopedRelatedField(
        queryset=ProjectMilestone.objects.all(), required=False, allow_null=True
    )
    parent = NetworkScopedRelatedField(
        queryset=RoadmapTask.objects.all(), required=False, allow_null=True, scope=_task_scope
    )


class TaskCreateSerializer(TaskWriteSerializer):
    publish = serializers.BooleanField(default=False, help_text="Open it for claims at once (else a draft).")


class TaskUpdateSerializer(TaskWriteSerializer):
    title = serializers.CharField(max_length=200, required=False)


class TaskDependencySerializer(FastReadMixin, serializers.ModelSerializer):
    depends_on_status = serializers.CharField(source="depends_on.status", read_only=True)

    class Meta:
        model = TaskDependency
        fields = ("id", "task", "depends_on", "depends_on_status", "created_at")
        read_only_fields = fields


class DependencyWriteSerializer(serializers.Serializer):
    depends_on = NetworkScopedRelatedField(queryset=RoadmapTask.objects.all(), scope=_task_scope)


class OutcomeCheckSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = OutcomeCheck
        fields = ("id", "task", "name", "kind", "config", "required", "position", "timeout_s", "created_at")
        read_only_fields = fields


class CheckWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=CheckKind.choices)
    config = serializers.DictField(required=False)
    required = serializers.BooleanField(required=False, default=True)
    position = serializers.IntegerField(required=False, default=0, min_value=-10000, max_value=10000)
    timeout_s = serializers.IntegerField(required=False, default=900, min_value=5, max_value=86400)


class CheckUpdateSerializer(serializers.Serializer):
    config = serializers.DictField(required=False)
    required = serializers.BooleanField(required=False)
    position = serializers.IntegerField(required=False, min_value=-10000, max_value=10000)
    timeout_s = serializers.IntegerField(required=False, min_value=5, max_value=86400)


class TaskClaimSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(ClaimStatus)
    lease_token = serializers.SerializerMethodField(help_text="Only the claimant sees its lease token.")

    class Meta:
        model = TaskClaim
        fields = (
            "id", "task", "claimant", "status", "lease_token", "fence", "lease_expires_at", "heartbeat_at",
            "attempt_no", "source", "ended_at", "end_reason", "created_at",
        )  # fmt: skip
        read_only_fields = fields

    def get_lease_token(self, claim: TaskClaim) -> str | None:
        request = self.context.get("request")
        if request is not None and claim.claimant_id == getattr(request.user, "pk", None):
            return str(claim.lease_token)
        return None


class LeaseSerializer(serializers.Serializer):
    lease_token = serializers.UUIDField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="revoked")


class VerificationRunSerializer(serializers.ModelSerializer):
    status = status_field(RunStatus)
    check = serializers.PrimaryKeyRelatedField(source="outcome_check", read_only=True)

    class Meta:
        model = VerificationRun
        fields = (
            "id", "outcome", "check", "attempt", "status", "runner", "verifier", "started_at", "finished_at", "score",
            "result", "log_excerpt", "external_ref", "created_at",
        )  # fmt: skip
        read_only_fields = fields


class TaskOutcomeSerializer(serializers.ModelSerializer):
    status = status_field(OutcomeStatus)
    runs = VerificationRunSerializer(many=True, read_only=True)

    class Meta:
        model = TaskOutcome
        fields = (
            "id", "task", "claim", "submitted_by", "attempt_no", "summary", "artifacts", "status", "score", "reviewer",
            "review_note", "decided_at", "runs", "created_at",
        )  # fmt: skip
        read_only_fields = fields


class OutcomeWriteSerializer(serializers.Serializer):
    lease_token = serializers.UUIDField()
    summary = serializers.CharField(max_length=50000, required=False, allow_blank=True, default="")
    artifacts = serializers.ListField(
        child=serializers.DictField(), max_length=50, required=False, default=list
    )


class ReviewSerializer(serializers.Serializer):
    accept = serializers.BooleanField()
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class DecideSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class RoadmapChallengeSerializer(FastReadMixin, serializers.ModelSerializer):
    status = status_field(ChallengeStatus)

    class Meta:
        model = RoadmapChallenge
        fields = (
            "id", "task", "outcome", "challenger", "reason", "details", "evidence", "status", "resolver",
            "resolution_note", "resolved_at", "created_at",
        )  # fmt: skip
        read_only_fields = fields


class ChallengeWriteSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ChallengeReason.choices)
    details = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    evidence = serializers.ListField(
        child=serializers.DictField(), max_length=20, required=False, default=list
    )


class ResolveSerializer(serializers.Serializer):
    upheld = serializers.BooleanField()
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class DispatcherStateSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = DispatcherState
        fields = (
            "id", "project", "mode", "tick_interval_s", "max_active_claims", "last_tick_at", "next_tick_at",
            "last_error", "stats",
        )  # fmt: skip
        read_only_fields = fields


class DispatcherStateWriteSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=DispatcherMode.choices, required=False)
    tick_interval_s = serializers.IntegerField(min_value=5, max_value=86400, required=False)
    max_active_claims = serializers.IntegerField(min_value=0, max_value=1000, required=False)


class SignalLogSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = SignalLog
        fields = ("id", "project", "kind", "task", "actor", "payload", "status", "processed_at", "created_at")
        read_only_fields = fields


# --- project-nested ---------------------------------------------------------------------------


class _TasksScope:
    scope_resource = "tasks"


@extend_schema(tags=["dispatcher"])
class ProjectRoadmapTaskViewSet(_TasksScope, ProjectNestedViewSet):
    """A project's roadmap tasks."""

    queryset = RoadmapTask.objects.all()
    serializer_class = RoadmapTaskSerializer

    def scope_queryset(self, qs: QuerySet[RoadmapTask]) -> QuerySet[RoadmapTask]:
        qs = super().scope_queryset(qs)
        params = self.request.query_params
        if params.get("status"):
            qs = qs.filter(status=params["status"]) if params["status"] in TaskStatus.values else qs.none()
        if params.get("priority", "").isdigit():
            qs = qs.filter(priority=int(params["priority"]))
        if params.get("label"):
            qs = qs.filter(labels__contains=[params["label"][:40]])
        if params.get("ready") in ("true", "1"):
            qs = services.ready_tasks(qs)
        if params.get("claimable") in ("true", "1"):
            qs = services.ready_tasks(qs).filter(services.claimable_q(self.request.user))
        q = (params.get("q") or "").strip()[:200]
        if q:
            qs = qs.filter(search_vector=SearchQuery(q, search_type="websearch", config="english"))
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=TaskStatus.values),
            OpenApiParameter("priority", OpenApiTypes.INT),
            OpenApiParameter("label", OpenApiTypes.STR),
            OpenApiParameter("ready", OpenApiTypes.BOOL),
            OpenApiParameter("claimable", OpenApiTypes.BOOL),
            OpenApiParameter("q", OpenApiTypes.STR),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=TaskCreateSerializer, responses={201: RoadmapTaskSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        project = self.project  # an invisible project is 404 before the body is read
        serializer = TaskCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        task = services.create_task(actor=request.user, project=project, publish=data.pop("publish"), **data)
        return Response(RoadmapTaskSerializer(task).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["dispatcher"])
class ProjectClaimNextViewSet(_TasksScope, ProjectNestedViewSet):
    """Claim the best ready task of the project for the caller."""

    queryset = RoadmapTask.objects.all()  # the rows it picks from (their organization's policy applies)
    serializer_class = TaskClaimSerializer
    scope_map = {"create": "tasks:claim"}

    @extend_schema(request=None, responses={201: TaskClaimSerializer})
    def create(self, request: Request, project_pk: str) -> Response:
        claim = services.claim_next(actor=request.user, project=self.project)
        return Response(self.get_serializer(claim).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["dispatcher"])
class ProjectDispatcherViewSet(_TasksScope, ProjectNestedViewSet):
    """The project's dispatcher: mode, tick interval, claim cap, stats."""

    queryset = DispatcherState.objects.all()
    serializer_class = DispatcherStateSerializer
    scope_map = {"partial_update": "projects:write", "kick": "projects:write"}

    @extend_schema(responses=DispatcherStateSerializer)
    def retrieve(self, request: Request, project_pk: str) -> Response:
        return Response(self.get_serializer(services.state_for(self.project)).data)

    @extend_schema(request=DispatcherStateWriteSerializer, responses=DispatcherStateSerializer)
    def partial_update(self, request: Request, project_pk: str) -> Response:
        serializer = DispatcherStateWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        state = services.update_state(
            actor=request.user, project=self.project, changes=serializer.validated_data
        )
        return Response(self.get_serializer(state).data)

    @extend_schema(request=None, responses={202: DispatcherStateSerializer})
    def kick(self, request: Request, project_pk: str) -> Response:
        services.kick(actor=request.user, project=self.project)
        return Response(
            self.get_serializer(services.state_for(self.project)).data, status=status.HTTP_202_ACCEPTED
        )


@extend_schema(tags=["dispatcher"])
class ProjectSignalViewSet(_TasksScope, ProjectNestedViewSet):
    """The project's dispatcher wake-ups (read-only)."""

    queryset = SignalLog.objects.all()
    serializer_class = SignalLogSerializer


# --- task rows --------------------------------------------------------------------------------


@extend_schema(tags=["dispatcher"])
class RoadmapTaskViewSet(_TasksScope, ProjectRowViewSet, mixins.DestroyModelMixin):
    queryset = RoadmapTask.objects.all()
    serializer_class = RoadmapTaskSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=TaskUpdateSerializer, responses=RoadmapTaskSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        serializer = TaskUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        task = services.update_task(actor=request.user, task=task, changes=dict(serializer.validated_data))
        return Response(RoadmapTaskSerializer(task).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.delete_task(actor=request.user, task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _move(self, fn: Any) -> Response:
        return Response(RoadmapTaskSerializer(fn(actor=self.request.user, task=self.get_object())).data)

    @extend_schema(request=None, responses=RoadmapTaskSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        return self._move(services.publish_task)

    @extend_schema(request=None, responses=RoadmapTaskSerializer)
    @action(detail=True, methods=["post"])
    def hold(self, request: Request, pk: str | None = None) -> Response:
        return self._move(services.hold_task)

    @extend_schema(request=None, responses=RoadmapTaskSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._move(services.resume_task)

    @extend_schema(request=None, responses=RoadmapTaskSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._move(services.cancel_task)


class TaskNestedViewSet(NetworkScopedViewSet, ListModelMixin):
    # /roadmap-tasks/{task_pk}/<rows>/: rows of a task whose project the caller can see (else 404)
    organization_url_kwarg = "task_pk"
    scope_resource = "tasks"

    @cached_property
    def task(self) -> RoadmapTask:
        task = (
            RoadmapTask.objects.filter(network=self.network, pk=self.kwargs["task_pk"])
            .filter(project_permissions.visible_q(self.request.user, prefix="project__"))
            .select_related("project")
            .first()
        )
        if task is None:
            raise NotFound()
        return task

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(task=self.task)


@extend_schema(tags=["dispatcher"])
class TaskDependencyViewSet(TaskNestedViewSet):
    """What a task waits on."""

    queryset = TaskDependency.objects.select_related("depends_on")
    serializer_class = TaskDependencySerializer

    @extend_schema(request=DependencyWriteSerializer, responses={201: TaskDependencySerializer})
    def create(self, request: Request, task_pk: str) -> Response:
        task = self.task  # an invisible task is 404 before the body is read
        serializer = DependencyWriteSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        dep = services.add_dependency(actor=request.user, task=task, **serializer.validated_data)
        return Response(TaskDependencySerializer(dep).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, task_pk: str, dep_id: str) -> Response:
        services.remove_dependency(actor=request.user, task=self.task, depends_on_id=dep_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["dispatcher"])
class TaskCheckViewSet(TaskNestedViewSet):
    """The checks an outcome of the task must pass."""

    queryset = OutcomeCheck.objects.all()
    serializer_class = OutcomeCheckSerializer

    @extend_schema(request=CheckWriteSerializer, responses={201: OutcomeCheckSerializer})
    def create(self, request: Request, task_pk: str) -> Response:
        task = self.task
        serializer = CheckWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check = services.add_check(actor=request.user, task=task, **serializer.validated_data)
        return Response(OutcomeCheckSerializer(check).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["dispatcher"])
class TaskClaimCreateViewSet(TaskNestedViewSet):
    """Claim this task (self-claim)."""

    queryset = TaskClaim.objects.all()
    serializer_class = TaskClaimSerializer
    scope_map = {"create": "tasks:claim"}

    @extend_schema(request=None, responses={201: TaskClaimSerializer})
    def create(self, request: Request, task_pk: str) -> Response:
        claim = services.claim_task(actor=request.user, task=self.task)
        return Response(self.get_serializer(claim).data, status=status.HTTP_201_CREATED)


class _ThroughTask(NetworkScopedViewSet, mixins.RetrieveModelMixin):
    # /<rows>/{pk}/: a row whose task's project the caller can see (else 404)
    scope_resource = "tasks"
    project_prefix = "task__project__"

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(project_permissions.visible_q(self.request.user, prefix=self.project_prefix))


@extend_schema(tags=["dispatcher"])
class OutcomeCheckViewSet(_ThroughTask):
    queryset = OutcomeCheck.objects.select_related("task__project")
    serializer_class = OutcomeCheckSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(request=CheckUpdateSerializer, responses=OutcomeCheckSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        serializer = CheckUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        check = services.update_check(
            actor=request.user, check=self.get_object(), changes=serializer.validated_data
        )
        return Response(OutcomeCheckSerializer(check).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.delete_check(actor=request.user, check=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["dispatcher"])
class TaskClaimViewSet(_ThroughTask, ListModelMixin):
    queryset = TaskClaim.objects.select_related("task__project")
    serializer_class = TaskClaimSerializer
    scope_map = {"heartbeat": "tasks:claim", "release": "tasks:claim", "revoke": "tasks:write"}

    def scope_queryset(self, qs: QuerySet[TaskClaim]) -> QuerySet[TaskClaim]:
        qs = super().scope_queryset(qs)
        params = self.request.query_params
        if params.get("mine") in ("true", "1"):
            qs = qs.filter(claimant=self.request.user)
        if params.get("status"):
            qs = qs.filter(status=params["status"]) if params["status"] in ClaimStatus.values else qs.none()
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("mine", OpenApiTypes.BOOL),
            OpenApiParameter("status", OpenApiTypes.STR, enum=ClaimStatus.values),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _lease(self) -> str:
        serializer = LeaseSerializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["lease_token"]

    @extend_schema(request=LeaseSerializer, responses=TaskClaimSerializer)
    @action(detail=True, methods=["post"])
    def heartbeat(self, request: Request, pk: str | None = None) -> Response:
        claim = services.heartbeat(actor=request.user, claim=self.get_object(), lease_token=self._lease())
        return Response(self.get_serializer(claim).data)

    @extend_schema(request=LeaseSerializer, responses=TaskClaimSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        claim = services.release_claim(actor=request.user, claim=self.get_object(), lease_token=self._lease())
        return Response(self.get_serializer(claim).data)

    @extend_schema(request=ReasonSerializer, responses=TaskClaimSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        claim = services.revoke_claim(
            actor=request.user, claim=self.get_object(), **serializer.validated_data
        )
        return Response(self.get_serializer(claim).data)


@extend_schema(tags=["dispatcher"])
class ClaimOutcomeViewSet(NetworkScopedViewSet):
    """Submit the claim's outcome (with the current lease token)."""

    queryset = TaskOutcome.objects.all()
    serializer_class = TaskOutcomeSerializer
    organization_url_kwarg = "claim_pk"
    organization_field = "claim__task__project__owner_organization"
    scope_resource = "tasks"
    scope_map = {"create": "outcomes:submit"}

    @extend_schema(request=OutcomeWriteSerializer, responses={201: TaskOutcomeSerializer})
    def create(self, request: Request, claim_pk: str) -> Response:
        claim = (
            TaskClaim.objects.filter(network=self.network, pk=claim_pk)
            .filter(project_permissions.visible_q(request.user, prefix="task__project__"))
            .first()
        )
        if claim is None:
            raise NotFound()
        serializer = OutcomeWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = services.submit_outcome(actor=request.user, claim=claim, **serializer.validated_data)
        outcome = TaskOutcome.objects.prefetch_related("runs").get(pk=outcome.pk)
        return Response(TaskOutcomeSerializer(outcome).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["dispatcher"])
class TaskOutcomeViewSet(_ThroughTask):
    queryset = TaskOutcome.objects.select_related("task__project").prefetch_related(
        Prefetch("runs", queryset=VerificationRun.objects.order_by("id"))
    )
    serializer_class = TaskOutcomeSerializer
    scope_map = {"review": "outcomes:review"}

    @extend_schema(request=ReviewSerializer, responses=TaskOutcomeSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str | None = None) -> Response:
        serializer = ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = services.review_outcome(
            actor=request.user, outcome=self.get_object(), **serializer.validated_data
        )
        return Response(
            TaskOutcomeSerializer(TaskOutcome.objects.prefetch_related("runs").get(pk=outcome.pk)).data
        )


@extend_schema(tags=["dispatcher"])
class OutcomeChallengeViewSet(NetworkScopedViewSet):
    """Challenge an accepted outcome inside its window."""

    queryset = RoadmapChallenge.objects.all()
    serializer_class = RoadmapChallengeSerializer
    organization_url_kwarg = "outcome_pk"
    organization_field = "outcome__task__project__owner_organization"
    scope_resource = "tasks"

    @extend_schema(request=ChallengeWriteSerializer, responses={201: RoadmapChallengeSerializer})
    def create(self, request: Request, outcome_pk: str) -> Response:
        outcome = (
            TaskOutcome.objects.filter(network=self.network, pk=outcome_pk)
            .filter(project_permissions.visible_q(request.user, prefix="task__project__"))
            .select_related("task__project", "claim")
            .first()
        )
        if outcome is None:
            raise NotFound()
        serializer = ChallengeWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        challenge = services.challenge_outcome(
            actor=request.user, outcome=outcome, **serializer.validated_data
        )
        return Response(RoadmapChallengeSerializer(challenge).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["dispatcher"])
class VerificationRunViewSet(_ThroughTask):
    queryset = VerificationRun.objects.select_related("outcome__task__project", "outcome_check", "outcome")
    serializer_class = VerificationRunSerializer
    project_prefix = "outcome__task__project__"
    scope_map = {"rerun": "outcomes:review", "decide": "outcomes:review"}

    @extend_schema(request=None, responses={201: VerificationRunSerializer})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str | None = None) -> Response:
        run = services.rerun(actor=request.user, run=self.get_object())
        return Response(VerificationRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DecideSerializer, responses=VerificationRunSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        serializer = DecideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.decide_run(actor=request.user, run=self.get_object(), **serializer.validated_data)
        return Response(VerificationRunSerializer(run).data)


@extend_schema(tags=["dispatcher"])
class RoadmapChallengeViewSet(_ThroughTask, ListModelMixin):
    queryset = RoadmapChallenge.objects.select_related("task__project")
    serializer_class = RoadmapChallengeSerializer
    scope_map = {"resolve": "outcomes:review"}

    def scope_queryset(self, qs: QuerySet[RoadmapChallenge]) -> QuerySet[RoadmapChallenge]:
        qs = super().scope_queryset(qs)
        state = self.request.query_params.get("status")
        if state:
            qs = qs.filter(status=state) if state in ChallengeStatus.values else qs.none()
        return qs

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=ChallengeStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ResolveSerializer, responses=RoadmapChallengeSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        serializer = ResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        challenge = services.resolve_challenge(
            actor=request.user, challenge=self.get_object(), **serializer.validated_data
        )
        return Response(RoadmapChallengeSerializer(challenge).data)

    @extend_schema(request=None, responses=RoadmapChallengeSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        challenge = services.withdraw_challenge(actor=request.user, challenge=self.get_object())
        return Response(RoadmapChallengeSerializer(challenge).data)
