"""``/api/v1/agents/`` and the rows under an agent.

Everything here is for the people who manage the agent (its owner, or the
organization's members with ``org.agents.manage``); anyone else gets 404.
``DELETE /agents/{id}/`` disables the agent (keys revoked, work released).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import User
from apps.billing.models import AIProviderConfig, AIUsage
from apps.chat.models import Conversation
from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet
from apps.core.exceptions import NotFound
from apps.core.pagination import CursorPagination
from apps.core.serializers import FastReadMixin
from apps.organizations.models import Organization
from apps.projects.models import Project

from . import selectors, services
from .models import (
    AgentChangeLog,
    AgentConversationSummary,
    AgentDecision,
    AgentMemoryFact,
    AgentProjectAccess,
    AgentRun,
    AgentScheduledTask,
    FactKind,
    PromptGuardLog,
)

# --- agents ------------------------------------------------------------------------------


class AgentSerializer(FastReadMixin, serializers.ModelSerializer):
    owner_user = serializers.UUIDField(source="agent_owner_user_id", read_only=True, allow_null=True)
    owner_organization = serializers.UUIDField(
        source="agent_owner_organization_id", read_only=True, allow_null=True
    )
    status = serializers.CharField(source="agent_status", read_only=True)
    model = serializers.CharField(source="agent_model", read_only=True)
    provider_config = serializers.UUIDField(
        source="agent_provider_config_id", read_only=True, allow_null=True
    )
    system_prompt = serializers.CharField(source="agent_system_prompt", read_only=True)
    temperature = serializers.DecimalField(
        source="agent_temperature", max_digits=3, decimal_places=2, read_only=True
    )
    max_output_tokens = serializers.IntegerField(source="agent_max_output_tokens", read_only=True)
    timezone = serializers.CharField(source="agent_timezone", read_only=True)
    autonomy = serializers.CharField(source="agent_autonomy", read_only=True)
    capabilities = serializers.ListField(
        source="agent_capabilities", child=serializers.CharField(), read_only=True
    )
    daily_budget_micros = serializers.IntegerField(
        source="agent_daily_budget_micros", read_only=True, allow_null=True
    )
    max_concurrent_claims = serializers.IntegerField(source="agent_max_concurrent_claims", read_only=True)
    today_cost_micros = serializers.IntegerField(read_only=True, default=0)
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True, default=None)

    class Meta:
        model = User
        fields = (
            "id",
            "handle",
            "display_name",
            "bio",
            "owner_user",
            "owner_organization",
            "status",
            "model",
            "provider_config",
            "system_prompt",
            "temperature",
            "max_output_tokens",
            "timezone",
            "autonomy",
            "capabilities",
            "daily_budget_micros",
            "max_concurrent_claims",
            "today_cost_micros",
            "last_run_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


def _usable_configs(qs: QuerySet, request: Any) -> QuerySet:
    return qs.filter(deleted_at__isnull=True)


class _AgentFields(serializers.Serializer):
    handle = serializers.CharField(max_length=30, required=False)
    display_name = serializers.CharField(max_length=80)
    bio = serializers.CharField(max_length=500, required=False, allow_blank=True)
    model = serializers.CharField(max_length=200, required=False)
    provider_config = NetworkScopedRelatedField(
        queryset=AIProviderConfig.objects.all(), scope=_usable_configs, required=False, allow_null=True
    )
    system_prompt = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    temperature = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=0, max_value=2, required=False
    )
    max_output_tokens = serializers.IntegerField(min_value=1, max_value=32768, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    autonomy = serializers.ChoiceField(choices=User.AgentAutonomy.choices, required=False)
    capabilities = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=50, required=False
    )
    daily_budget_micros = serializers.IntegerField(
        min_value=0, max_value=10**15, required=False, allow_null=True
    )
    max_concurrent_claims = serializers.IntegerField(min_value=1, max_value=20, required=False)

    MAP = {
        "handle": "handle",
        "display_name": "display_name",
        "bio": "bio",
        "model": "agent_model",
        "provider_config": "agent_provider_config",
        "system_prompt": "agent_system_prompt",
        "temperature": "agent_temperature",
        "max_output_tokens": "agent_max_output_tokens",
        "timezone": "agent_timezone",
        "autonomy": "agent_autonomy",
        "capabilities": "agent_capabilities",
        "daily_budget_micros": "agent_daily_budget_micros",
        "max_concurrent_claims": "agent_max_concurrent_claims",
    }

    def service_fields(self) -> dict[str, Any]:
        return {self.MAP[k]: v for k, v in self.validated_data.items() if k in self.MAP}


def _manageable_orgs(qs: QuerySet, request: Any) -> QuerySet:
    return qs.filter(archived_at__isnull=True)


class AgentCreateSerializer(_AgentFields):
    owner_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(), scope=_manageable_orgs, required=False, allow_null=True
    )


class AgentUpdateSerializer(_AgentFields):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


@extend_schema_serializer(component_name="AgentReason")  # dispatcher has a ReasonSerializer too
class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


def _with_stats(qs: QuerySet[User]) -> QuerySet[User]:
    today = selectors.today_start()
    cost = (
        AIUsage.objects.filter(agent_id=OuterRef("pk"), created_at__gte=today)
        .order_by()
        .values("agent_id")
        .annotate(s=Sum("cost_micros"))
        .values("s")
    )
    last_run = AgentRun.objects.filter(agent_id=OuterRef("pk")).order_by("-id").values("created_at")[:1]
    return qs.annotate(
        today_cost_micros=Coalesce(Subquery(cost, output_field=IntegerField()), 0),
        last_run_at=Subquery(last_run),
    )


@extend_schema(tags=["agents"])
class AgentViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """The agents you manage."""

    queryset = User.objects.filter(is_ai=True)
    serializer_class = AgentSerializer
    pagination_class = CursorPagination
    scope_resource = "agents"
    organization_field = "agent_owner_organization"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[User]) -> QuerySet[User]:
        qs = selectors.manageable_agents(qs, user=self.request.user)
        status_filter = self.request.query_params.get("status")
        if self.action == "list" and status_filter:
            qs = (
                qs.filter(agent_status=status_filter)
                if status_filter in User.AgentStatus.values
                else qs.none()
            )
        return _with_stats(qs)

    def _read(self, agent: User, code: int = status.HTTP_200_OK) -> Response:
        agent = _with_stats(User.objects.filter(pk=agent.pk)).get()
        return Response(AgentSerializer(agent).data, status=code)

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=User.AgentStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=AgentCreateSerializer, responses={201: AgentSerializer})
    def create(self, request: Request) -> Response:
        serializer = AgentCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        fields = serializer.service_fields()
        agent = services.create_agent(
            actor=request.user,
            display_name=fields.pop("display_name"),
            owner_organization=serializer.validated_data.get("owner_organization"),
            model=fields.pop("agent_model", None),
            **fields,
        )
        return self._read(agent, status.HTTP_201_CREATED)

    @extend_schema(request=AgentUpdateSerializer, responses=AgentSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        agent = self.get_object()
        serializer = AgentUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        services.update_agent(
            actor=request.user,
            agent=agent,
            changes=serializer.service_fields(),
            reason=serializer.validated_data.get("reason", ""),
        )
        return self._read(agent)

    @extend_schema(request=ReasonSerializer, responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Disable the agent: its API keys are revoked, its schedules stop, its claimed work is released."""
        serializer = ReasonSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        services.disable_agent(
            actor=request.user, agent=self.get_object(), reason=serializer.validated_data.get("reason", "")
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ReasonSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        serializer = ReasonSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        agent = services.pause_agent(
            actor=request.user, agent=self.get_object(), reason=serializer.validated_data.get("reason", "")
        )
        return self._read(agent)

    @extend_schema(request=ReasonSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        serializer = ReasonSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        agent = services.resume_agent(
            actor=request.user, agent=self.get_object(), reason=serializer.validated_data.get("reason", "")
        )
        return self._read(agent)


# --- rows under an agent --------------------------------------------------------------------


# (comments, not docstrings: a base's docstring would describe every subclass's operations)
class _AgentNestedViewSet(NetworkScopedViewSet, ListModelMixin):
    # /agents/{agent_pk}/<rows>/: rows of an agent the caller manages (else 404)
    organization_field = "agent__agent_owner_organization"
    organization_url_kwarg = "agent_pk"
    pagination_class = CursorPagination
    scope_resource = "agents"

    @cached_property
    def agent(self) -> User:
        agent = (
            selectors.manageable_agents(
                User.objects.filter(network=self.network, is_ai=True), user=self.request.user
            )
            .filter(pk=self.kwargs["agent_pk"])
            .first()
        )
        if agent is None:
            raise NotFound()
        return agent

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(agent=self.agent)


class _AgentRowViewSet(NetworkScopedViewSet):
    # /<rows>/{pk}/: a row of an agent the caller manages (else 404)
    organization_field = "agent__agent_owner_organization"
    scope_resource = "agents"

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(selectors.manageable_agents_q(self.request.user, prefix="agent__")).select_related(
            "agent"
        )


class AgentProjectAccessSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentProjectAccess
        fields = ("id", "agent", "project", "role", "granted_by", "expires_at", "created_at", "updated_at")
        read_only_fields = fields


class AgentProjectAccessCreateSerializer(serializers.Serializer):
    project = NetworkScopedRelatedField(queryset=Project.objects.all())
    role = serializers.ChoiceField(choices=AgentProjectAccess.Role.choices)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


@extend_schema(tags=["agents"])
class AgentProjectAccessListViewSet(_AgentNestedViewSet):
    """Projects the agent may touch, and at which role (granting needs maintain on the project)."""

    queryset = AgentProjectAccess.objects.select_related("project")
    serializer_class = AgentProjectAccessSerializer

    @extend_schema(request=AgentProjectAccessCreateSerializer, responses={201: AgentProjectAccessSerializer})
    def create(self, request: Request, agent_pk: str) -> Response:
        agent = self.agent  # 404 before the body is looked at
        serializer = AgentProjectAccessCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        access = services.grant_project_access(actor=request.user, agent=agent, **serializer.validated_data)
        return Response(AgentProjectAccessSerializer(access).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["agents"])
class AgentProjectAccessViewSet(_AgentRowViewSet, mixins.RetrieveModelMixin):
    """One grant; DELETE revokes it."""

    queryset = AgentProjectAccess.objects.select_related("project")
    serializer_class = AgentProjectAccessSerializer
    http_method_names = ["get", "delete", "head", "options"]

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.revoke_project_access(actor=request.user, access=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentMemoryFactSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentMemoryFact
        fields = (
            "id",
            "agent",
            "project",
            "subject_user",
            "fact_key",
            "content",
            "kind",
            "source",
            "source_ref",
            "confidence",
            "importance",
            "pinned",
            "expires_at",
            "superseded_by",
            "last_used_at",
            "use_count",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class AgentMemoryFactCreateSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=2000)
    fact_key = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)
    project = NetworkScopedRelatedField(queryset=Project.objects.all(), required=False, allow_null=True)
    subject_user = NetworkScopedRelatedField(queryset=User.objects.all(), required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=FactKind.choices, default=FactKind.FACT)
    confidence = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=0, max_value=1, required=False
    )
    importance = serializers.IntegerField(min_value=1, max_value=5, default=3)
    pinned = serializers.BooleanField(default=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class AgentMemoryFactUpdateSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=2000, required=False)
    kind = serializers.ChoiceField(choices=FactKind.choices, required=False)
    confidence = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=0, max_value=1, required=False
    )
    importance = serializers.IntegerField(min_value=1, max_value=5, required=False)
    pinned = serializers.BooleanField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


@extend_schema(tags=["agents"])
class AgentMemoryFactListViewSet(_AgentNestedViewSet):
    """The agent's live memory (``q``: full-text search; ``project``)."""

    queryset = AgentMemoryFact.objects.all()
    serializer_class = AgentMemoryFactSerializer
    scope_resource = "memory"

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        qs = super().scope_queryset(qs).filter(superseded_by__isnull=True)
        params = self.request.query_params
        project = params.get("project")
        if project:
            try:
                qs = qs.filter(project_id=serializers.UUIDField().to_internal_value(project))
            except serializers.ValidationError:
                return qs.none()
        q = (params.get("q") or "").strip()[:200]
        if q:
            qs = qs.filter(search_vector=SearchQuery(q, config="english", search_type="websearch"))
        return qs

    @extend_schema(
        parameters=[OpenApiParameter("q", OpenApiTypes.STR), OpenApiParameter("project", OpenApiTypes.UUID)]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=AgentMemoryFactCreateSerializer, responses={201: AgentMemoryFactSerializer})
    def create(self, request: Request, agent_pk: str) -> Response:
        agent = self.agent  # 404 before the body is looked at
        serializer = AgentMemoryFactCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        fact, created = services.remember(agent=agent, actor=request.user, source="user", **data)
        return Response(
            AgentMemoryFactSerializer(fact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(tags=["agents"])
class AgentMemoryFactViewSet(_AgentRowViewSet, mixins.RetrieveModelMixin):
    """One memory fact: edit or forget it."""

    queryset = AgentMemoryFact.objects.all()
    serializer_class = AgentMemoryFactSerializer
    scope_resource = "memory"
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(request=AgentMemoryFactUpdateSerializer, responses=AgentMemoryFactSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        fact = self.get_object()
        serializer = AgentMemoryFactUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fact = services.update_fact(actor=request.user, fact=fact, changes=dict(serializer.validated_data))
        return Response(AgentMemoryFactSerializer(fact).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.forget_fact(actor=request.user, fact=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentDecisionSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentDecision
        fields = (
            "id", "agent", "project", "conversation_id", "task_id", "scheduled_task", "run", "action",
            "rationale", "inputs", "outcome", "confidence", "ai_usage", "created_at",
        )  # fmt: skip
        read_only_fields = fields


class AgentChangeLogSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentChangeLog
        fields = ("id", "agent", "actor", "change", "field", "before", "after", "reason", "created_at")
        read_only_fields = fields


class AgentConversationSummarySerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentConversationSummary
        fields = (
            "id",
            "agent",
            "conversation_id",
            "from_seq",
            "to_seq",
            "summary",
            "token_count",
            "model",
            "created_at",
        )
        read_only_fields = fields


class PromptGuardLogSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = PromptGuardLog
        fields = (
            "id",
            "agent",
            "author",
            "source",
            "source_ref",
            "verdict",
            "categories",
            "score",
            "excerpt",
            "detector",
            "created_at",
        )
        read_only_fields = fields


class AgentRunSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentRun
        fields = (
            "id", "agent", "trigger", "requested_by", "scheduled_task", "slot_at", "project", "conversation_id",
            "message_id", "task_id", "instruction", "status", "started_at", "finished_at", "duration_ms",
            "error_code", "error", "output", "output_message_id", "proposed_tool_calls", "ai_usage", "created_at",
        )  # fmt: skip
        read_only_fields = fields


class AgentRunCreateSerializer(serializers.Serializer):
    instruction = serializers.CharField(max_length=8000)
    project = NetworkScopedRelatedField(queryset=Project.objects.all(), required=False, allow_null=True)
    conversation = NetworkScopedRelatedField(
        queryset=Conversation.objects.all(), required=False, allow_null=True, help_text="Output conversation"
    )


@extend_schema(tags=["agents"])
class AgentDecisionListViewSet(_AgentNestedViewSet):
    """What the agent did and why (append-only)."""

    queryset = AgentDecision.objects.all()
    serializer_class = AgentDecisionSerializer


@extend_schema(tags=["agents"])
class AgentChangeLogListViewSet(_AgentNestedViewSet):
    """Every change to the agent's configuration, prompt, model, status, access, memory and keys."""

    queryset = AgentChangeLog.objects.all()
    serializer_class = AgentChangeLogSerializer


@extend_schema(tags=["agents"])
class AgentConversationSummaryListViewSet(_AgentNestedViewSet):
    """Rolling summaries of the agent's conversations."""

    queryset = AgentConversationSummary.objects.all()
    serializer_class = AgentConversationSummarySerializer


@extend_schema(tags=["agents"])
class PromptGuardLogListViewSet(_AgentNestedViewSet):
    """Prompt-guard verdicts on content that reached the agent."""

    queryset = PromptGuardLog.objects.all()
    serializer_class = PromptGuardLogSerializer


@extend_schema(tags=["agents"])
class AgentRunListViewSet(_AgentNestedViewSet):
    """Run history (``scheduled_task`` filters one task's runs); POST starts a run now."""

    queryset = AgentRun.objects.all()
    serializer_class = AgentRunSerializer
    scope_map = {"create": "agents:run"}

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        qs = super().scope_queryset(qs)
        task = self.request.query_params.get("scheduled_task")
        if task:
            try:
                qs = qs.filter(scheduled_task_id=serializers.UUIDField().to_internal_value(task))
            except serializers.ValidationError:
                return qs.none()
        return qs

    @extend_schema(parameters=[OpenApiParameter("scheduled_task", OpenApiTypes.UUID)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=AgentRunCreateSerializer, responses={202: AgentRunSerializer})
    def create(self, request: Request, agent_pk: str) -> Response:
        agent = self.agent  # 404 before the body is looked at
        serializer = AgentRunCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = services.request_agent_run(
            agent=agent,
            trigger="api",
            instruction=data["instruction"],
            project=data.get("project"),
            conversation=data.get("conversation"),
            requested_by=request.user,
        )
        return Response(AgentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class AgentScheduledTaskSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentScheduledTask
        fields = (
            "id", "agent", "name", "instruction", "cron", "timezone", "project", "conversation_id", "enabled",
            "next_run_at", "last_run_at", "last_status", "last_error", "consecutive_failures", "run_count",
            "max_runtime_s", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class _TaskFields(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    instruction = serializers.CharField(max_length=8000)
    cron = serializers.CharField(
        max_length=100, help_text="5 fields, at least 5 minutes apart, in `timezone`"
    )
    timezone = serializers.CharField(max_length=64, required=False, help_text="Default: the agent's")
    project = NetworkScopedRelatedField(queryset=Project.objects.all(), required=False, allow_null=True)
    conversation = NetworkScopedRelatedField(
        queryset=Conversation.objects.all(), required=False, allow_null=True, help_text="Output conversation"
    )
    enabled = serializers.BooleanField(required=False, default=True)
    max_runtime_s = serializers.IntegerField(min_value=10, max_value=3600, required=False, default=300)


@extend_schema(tags=["agents"])
class AgentScheduledTaskListViewSet(_AgentNestedViewSet):
    """The agent's cron-scheduled tasks."""

    queryset = AgentScheduledTask.objects.all()
    serializer_class = AgentScheduledTaskSerializer

    @extend_schema(request=_TaskFields, responses={201: AgentScheduledTaskSerializer})
    def create(self, request: Request, agent_pk: str) -> Response:
        agent = self.agent  # 404 before the body is looked at
        serializer = _TaskFields(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "conversation" in data:
            data["conversation_id"] = getattr(data.pop("conversation"), "pk", None)
        task = services.create_scheduled_task(
            actor=request.user, agent=agent, timezone_name=data.pop("timezone", None), **data
        )
        return Response(AgentScheduledTaskSerializer(task).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["agents"])
class AgentScheduledTaskViewSet(_AgentRowViewSet, mixins.RetrieveModelMixin):
    """One scheduled task: edit, delete, run now."""

    queryset = AgentScheduledTask.objects.all()
    serializer_class = AgentScheduledTaskSerializer
    scope_map = {"run_now": "agents:run"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=_TaskFields(partial=True), responses=AgentScheduledTaskSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        serializer = _TaskFields(data=request.data, partial=True, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        if "conversation" in changes:
            changes["conversation_id"] = getattr(changes.pop("conversation"), "pk", None)
        task = services.update_scheduled_task(actor=request.user, task=task, changes=changes)
        return Response(AgentScheduledTaskSerializer(task).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.delete_scheduled_task(actor=request.user, task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: AgentRunSerializer})
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request: Request, pk: str | None = None) -> Response:
        run = services.run_task_now(actor=request.user, task=self.get_object())
        return Response(AgentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
