"""``/api/v1/integrations/…``, grants under agents, tool executions, approvals, the execution log.

Connections are their user's (and, shared with an organization, visible to
its members; decided by ``org.tools.approve``). API keys read connections
(``integrations:read``) and run tools (``integrations:execute``); they never
connect, revoke, grant or approve.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import User
from apps.agents.api import _AgentNestedViewSet, _AgentRowViewSet
from apps.agents.selectors import can_manage_agent
from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import NotFound
from apps.core.pagination import CursorPagination
from apps.core.serializers import FastReadMixin
from apps.organizations.models import Organization

from . import catalog, services, webhooks
from .models import (
    AgentIntegration,
    ApprovalPolicy,
    ExecutionStatus,
    LogStatus,
    PendingIntegration,
    PendingToolExecution,
    ToolExecutionLog,
    UserIntegration,
)
from .services.connections import visible_connections_q
from .services.execution import visible_executions_q, visible_logs_q

# --- toolkits and connections -------------------------------------------------------


class ToolkitSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)


@extend_schema(tags=["integrations"], responses=ToolkitSerializer(many=True))
class ToolkitListView(UnscopedAPIView):
    """Toolkits one can connect (the provider's, cached 1 h, and the built-in ``http``)."""

    unscoped_reason = "the provider's catalogue: no tenant rows"
    scope_resource = "integrations"

    def get(self, request: Request) -> Response:
        return Response(ToolkitSerializer(catalog.toolkits(), many=True).data)


class UserIntegrationSerializer(FastReadMixin, serializers.ModelSerializer):
    base_url = serializers.SerializerMethodField()

    class Meta:
        model = UserIntegration
        fields = (
            "id", "user", "organization", "toolkit", "provider", "external_account_id", "account_label",
            "scopes", "base_url", "credentials_hint", "status", "last_used_at", "last_error",
            "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields

    def get_base_url(self, obj: UserIntegration) -> str | None:
        return (obj.config or {}).get("base_url")


class DirectConnectionSerializer(serializers.Serializer):
    toolkit = serializers.ChoiceField(choices=["http"])
    base_url = serializers.CharField(max_length=500)
    token = serializers.CharField(max_length=4000, required=False, allow_blank=True, write_only=True)
    account_label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )


@extend_schema(tags=["integrations"])
class UserIntegrationViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Your connected accounts (and those shared with your organizations). POST connects the built-in
    ``http`` toolkit (an allowlisted https base URL and a token, stored encrypted); provider toolkits
    connect through ``pending-integrations``. DELETE revokes (at the provider too; grants disabled)."""

    queryset = UserIntegration.objects.all()
    serializer_class = UserIntegrationSerializer
    pagination_class = CursorPagination
    scope_resource = "integrations"
    scope_map: ClassVar[dict[str, str | None]] = {"create": None, "destroy": None, "refresh": None}
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        qs = qs.filter(visible_connections_q(self.request.user))
        toolkit = self.request.query_params.get("toolkit")
        return qs.filter(toolkit=toolkit) if self.action == "list" and toolkit else qs

    @extend_schema(parameters=[OpenApiParameter("toolkit", OpenApiTypes.STR)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=DirectConnectionSerializer, responses={201: UserIntegrationSerializer})
    def create(self, request: Request) -> Response:
        serializer = DirectConnectionSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        integration = services.connect_direct(
            actor=request.user,
            base_url=data["base_url"],
            token=data.get("token", ""),
            account_label=data.get("account_label", ""),
            organization=data.get("organization"),
        )
        return Response(UserIntegrationSerializer(integration).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.revoke_connection(actor=request.user, integration=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=UserIntegrationSerializer)
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        integration = services.refresh_connection(actor=request.user, integration=self.get_object())
        return Response(UserIntegrationSerializer(integration).data)


class PendingIntegrationSerializer(serializers.ModelSerializer):
    class Meta:
        model = PendingIntegration
        fields = (
            "id",
            "toolkit",
            "organization",
            "redirect_url",
            "return_url",
            "status",
            "expires_at",
            "result",
            "created_at",
        )
        read_only_fields = fields


class PendingIntegrationCreateSerializer(serializers.Serializer):
    toolkit = serializers.CharField(max_length=64)
    return_url = serializers.CharField(max_length=500)
    organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )


@extend_schema(tags=["integrations"])
class PendingIntegrationViewSet(NetworkScopedViewSet, mixins.RetrieveModelMixin):
    """Start connecting a provider toolkit: answers the provider's ``redirect_url`` (valid 15 minutes)."""

    queryset = PendingIntegration.objects.all()
    serializer_class = PendingIntegrationSerializer
    scope_resource = "integrations"
    scope_map: ClassVar[dict[str, str | None]] = {"create": None}

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(user=self.request.user)

    @extend_schema(request=PendingIntegrationCreateSerializer, responses={201: PendingIntegrationSerializer})
    def create(self, request: Request) -> Response:
        serializer = PendingIntegrationCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        pending = services.start_connection(actor=request.user, **serializer.validated_data)
        return Response(PendingIntegrationSerializer(pending).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["integrations"],
    parameters=[OpenApiParameter("state", OpenApiTypes.STR, required=True)],
    responses={302: None},
)
class IntegrationCallbackView(UnscopedAPIView):
    """The provider sends the browser back here; the single-use state decides where it goes next."""

    unscoped_reason = (
        "the provider's redirect: the single-use state token is the credential and names the row"
    )
    allow_anonymous = True
    authentication_classes: ClassVar[list] = []

    def get_permissions(self) -> list:
        return []

    def get(self, request: Request) -> HttpResponseRedirect:
        return HttpResponseRedirect(services.complete_connection(state=request.query_params.get("state", "")))


# --- grants ----------------------------------------------------------------------------


class AgentIntegrationSerializer(FastReadMixin, serializers.ModelSerializer):
    toolkit = serializers.CharField(source="user_integration.toolkit", read_only=True)

    class Meta:
        model = AgentIntegration
        fields = (
            "id", "agent", "user_integration", "toolkit", "allowed_tools", "approval_policy", "daily_limit",
            "enabled", "granted_by", "expires_at", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class _GrantFields(serializers.Serializer):
    allowed_tools = serializers.ListField(child=serializers.CharField(max_length=128), max_length=100)
    approval_policy = serializers.ChoiceField(choices=ApprovalPolicy.choices, required=False)
    daily_limit = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class AgentIntegrationCreateSerializer(_GrantFields):
    user_integration = NetworkScopedRelatedField(queryset=UserIntegration.objects.all())


class AgentIntegrationUpdateSerializer(_GrantFields):
    enabled = serializers.BooleanField(required=False)


@extend_schema(tags=["integrations"])
class AgentIntegrationListViewSet(_AgentNestedViewSet):
    """The agent's grants: which connection, which tools, which approval policy and daily limit."""

    queryset = AgentIntegration.objects.select_related("user_integration")
    serializer_class = AgentIntegrationSerializer
    scope_resource = "integrations"
    scope_map: ClassVar[dict[str, str | None]] = {"create": None}

    @extend_schema(request=AgentIntegrationCreateSerializer, responses={201: AgentIntegrationSerializer})
    def create(self, request: Request, agent_pk: str) -> Response:
        agent = self.agent  # 404 before the body is looked at
        serializer = AgentIntegrationCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        grant = services.grant_integration(actor=request.user, agent=agent, **serializer.validated_data)
        return Response(AgentIntegrationSerializer(grant).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["integrations"])
class AgentIntegrationViewSet(_AgentRowViewSet, mixins.RetrieveModelMixin):
    """One grant: change its tools, policy, limit, expiry or enabled flag; DELETE revokes it."""

    queryset = AgentIntegration.objects.select_related("user_integration")
    serializer_class = AgentIntegrationSerializer
    scope_resource = "integrations"
    scope_map: ClassVar[dict[str, str | None]] = {"partial_update": None, "destroy": None}
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(request=AgentIntegrationUpdateSerializer, responses=AgentIntegrationSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        grant = self.get_object()
        serializer = AgentIntegrationUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        grant = services.update_grant(
            actor=request.user, grant=grant, changes=dict(serializer.validated_data)
        )
        return Response(AgentIntegrationSerializer(grant).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.revoke_grant(actor=request.user, grant=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tool executions ----------------------------------------------------------------------


class PendingToolExecutionSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = PendingToolExecution
        fields = (
            "id", "agent", "agent_integration", "approver", "tool", "arguments", "arguments_hash", "risk",
            "justification", "status", "decided_by", "decided_at", "decision_note", "expires_at",
            "executing_at", "finished_at", "result", "error", "idempotency_key", "created_at",
        )  # fmt: skip
        read_only_fields = fields


class ToolCallSerializer(serializers.Serializer):
    tool = serializers.CharField(max_length=128)
    arguments = serializers.DictField(required=False, default=dict)
    justification = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    idempotency_key = serializers.CharField(max_length=200, required=False)


@extend_schema(tags=["integrations"])
class AgentToolExecutionViewSet(NetworkScopedViewSet, ListModelMixin):
    """The agent runs a tool through a grant (its own API key, ``integrations:execute``; or whoever
    manages it): 200 with the result when it ran, 202 while it waits for approval."""

    queryset = PendingToolExecution.objects.all()
    serializer_class = PendingToolExecutionSerializer
    pagination_class = CursorPagination
    organization_field = "agent__agent_owner_organization"
    organization_url_kwarg = "agent_pk"
    scope_resource = "integrations"
    scope_map: ClassVar[dict[str, str | None]] = {
        "create": "integrations:execute",
        "list": "integrations:read",
    }

    @cached_property
    def agent(self) -> User:
        agent = User.objects.filter(network=self.network, is_ai=True, pk=self.kwargs["agent_pk"]).first()
        user = self.request.user
        if agent is None or not (agent.pk == user.pk or can_manage_agent(user, agent)):
            raise NotFound()
        return agent

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(agent=self.agent)

    @extend_schema(
        request=ToolCallSerializer,
        responses={200: PendingToolExecutionSerializer, 202: PendingToolExecutionSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
    )
    def create(self, request: Request, agent_pk: str) -> Response:
        agent = self.agent  # 404 before the body is looked at
        serializer = ToolCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcome = services.request_tool_call(
            agent=agent,
            tool=data["tool"],
            arguments=data.get("arguments") or {},
            justification=data.get("justification", ""),
            idempotency_key=data.get("idempotency_key") or request.headers.get("Idempotency-Key"),
            context={"via": "api", "by": str(request.user.pk)},
        )
        code = status.HTTP_202_ACCEPTED if outcome.is_pending else status.HTTP_200_OK
        return Response(PendingToolExecutionSerializer(outcome.execution).data, status=code)


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ApproveSerializer(DecisionSerializer):
    arguments_hash = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)


@extend_schema(tags=["integrations"])
class PendingToolExecutionViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Tool calls waiting for (or past) a decision: yours to approve, or your agents' (``status`` filter)."""

    queryset = PendingToolExecution.objects.all()
    serializer_class = PendingToolExecutionSerializer
    pagination_class = CursorPagination
    scope_resource = "integrations"
    scope_map: ClassVar[dict[str, str | None]] = {
        "list": "integrations:read",
        "retrieve": "integrations:read",
        "approve": None,
        "reject": None,
        "cancel": "integrations:execute",
    }

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        qs = qs.filter(visible_executions_q(self.request.user))
        wanted = self.request.query_params.get("status")
        if self.action == "list" and wanted:
            qs = qs.filter(status=wanted) if wanted in ExecutionStatus.values else qs.none()
        return qs

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=ExecutionStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ApproveSerializer, responses=PendingToolExecutionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve: the stored arguments (they must still match ``arguments_hash``) run once, in Celery."""
        execution = self.get_object()
        serializer = ApproveSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        row = services.approve(
            actor=request.user,
            execution=execution,
            arguments_hash_seen=serializer.validated_data.get("arguments_hash"),
            note=serializer.validated_data.get("note", ""),
        )
        row.refresh_from_db()
        return Response(PendingToolExecutionSerializer(row).data)

    @extend_schema(request=DecisionSerializer, responses=PendingToolExecutionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        serializer = DecisionSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        row = services.reject(
            actor=request.user, execution=self.get_object(), note=serializer.validated_data.get("note", "")
        )
        return Response(PendingToolExecutionSerializer(row).data)

    @extend_schema(request=DecisionSerializer, responses=PendingToolExecutionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        serializer = DecisionSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        row = services.cancel(
            actor=request.user, execution=self.get_object(), note=serializer.validated_data.get("note", "")
        )
        return Response(PendingToolExecutionSerializer(row).data)


class ToolExecutionLogSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = ToolExecutionLog
        fields = (
            "id", "agent", "user", "user_integration", "agent_integration", "pending_execution", "tool",
            "arguments_redacted", "status", "result", "error", "duration_ms", "external_execution_id", "created_at",
        )  # fmt: skip
        read_only_fields = fields


@extend_schema(tags=["integrations"])
class ToolExecutionLogViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Every tool-call attempt of your agents and on your connections (``agent``, ``status`` filters)."""

    queryset = ToolExecutionLog.objects.all()
    serializer_class = ToolExecutionLogSerializer
    pagination_class = CursorPagination
    scope_resource = "integrations"

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        qs = qs.filter(visible_logs_q(self.request.user))
        if self.action != "list":
            return qs
        params = self.request.query_params
        if params.get("status"):
            qs = qs.filter(status=params["status"]) if params["status"] in LogStatus.values else qs.none()
        if params.get("agent"):
            try:
                qs = qs.filter(agent_id=serializers.UUIDField().to_internal_value(params["agent"]))
            except serializers.ValidationError:
                return qs.none()
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=LogStatus.values),
            OpenApiParameter("agent", OpenApiTypes.UUID),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


# --- the provider's webhook -----------------------------------------------------------------


@extend_schema(
    tags=["webhooks"],
    request=OpenApiTypes.OBJECT,
    responses=inline_serializer(
        "ComposioWebhookAck", {"status": serializers.CharField(), "id": serializers.UUIDField()}
    ),
    parameters=[
        OpenApiParameter("webhook-id", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        OpenApiParameter("webhook-timestamp", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True),
        OpenApiParameter("webhook-signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
    ],
)
class ComposioWebhookView(UnscopedAPIView):
    """Connected-account events from the integration provider (Standard Webhooks signature)."""

    unscoped_reason = "signed provider callback; the network comes from the connection row"
    allow_anonymous = True
    authentication_classes: ClassVar[list] = []

    def get_permissions(self) -> list:
        return []  # the signature (checked by the service) is the only credential

    def post(self, request: Request) -> Response:
        webhook, created = webhooks.receive(headers=request.headers, body=request.body)
        return Response({"status": "accepted" if created else "duplicate", "id": webhook.pk})
