"""``/api/v1/ai-provider-configs/`` (+verify), ``/ai-usage/`` (+summary), ``/ai-models/``.

Provider configs: yours and those of organizations where you hold
``org.billing``; the key and extra headers are write-only (hints only).
Network configs (the platform key) are managed by staff in the admin.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import User
from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import ValidationFailed
from apps.core.pagination import CursorPagination
from apps.core.serializers import FastReadMixin
from apps.organizations.models import Organization

from ..ai import selectors
from ..models import (
    AIFeature,
    AIProviderConfig,
    AIUsage,
    AIUsageDaily,
    AIUsageStatus,
    ModelPrice,
    ProviderKind,
)
from ..services import ai_configs

MAX_RANGE_DAYS = 366


def policy_restricted(request: Request, qs: QuerySet) -> QuerySet:
    """``qs`` without the rows of organizations whose security policy refuses the request."""
    try:
        from apps.organizations import policy
    except ImportError:  # pragma: no cover — before the policy module exists
        return qs
    restrict = getattr(policy, "restrict_queryset", None)
    return restrict(request, qs, "organization") if restrict else qs


_WRITES_SESSION_ONLY = {"create": None, "partial_update": None, "destroy": None, "verify": None}


class AIProviderConfigSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AIProviderConfig
        fields = (
            "id",
            "scope",
            "owner_user",
            "owner_organization",
            "name",
            "provider",
            "base_url",
            "api_key_hint",
            "extra_headers_hint",
            "default_model",
            "allowed_models",
            "is_default",
            "enabled",
            "monthly_budget_micros",
            "last_verified_at",
            "last_error",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


def _billing_orgs(qs: QuerySet, request: Any) -> QuerySet:
    return qs.filter(archived_at__isnull=True)


class _ConfigFields(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    provider = serializers.ChoiceField(choices=ProviderKind.choices, default=ProviderKind.OPENAI)
    base_url = serializers.CharField(
        max_length=500, help_text="OpenAI-compatible base URL (https, public host)."
    )
    api_key = serializers.CharField(
        max_length=4000,
        write_only=True,
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=True,
    )
    extra_headers = serializers.DictField(
        child=serializers.CharField(max_length=2000, allow_blank=True),
        required=False,
        allow_null=True,
        write_only=True,
        help_text="Extra request headers (stored encrypted).",
    )
    default_model = serializers.CharField(max_length=200)
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=200,
        help_text="Empty = any model.",
    )
    is_default = serializers.BooleanField(required=False, default=False)
    enabled = serializers.BooleanField(required=False, default=True)
    monthly_budget_micros = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=10**15,
        help_text="BYOK monthly budget (micro-USD).",
    )


class AIProviderConfigCreateSerializer(_ConfigFields):
    scope = serializers.ChoiceField(
        choices=[("user", "user"), ("organization", "organization")], default="user"
    )
    owner_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(), scope=_billing_orgs, required=False, allow_null=True
    )


class AIProviderConfigUpdateSerializer(_ConfigFields):
    pass


@extend_schema(tags=["ai"])
class AIProviderConfigViewSet(
    NetworkScopedViewSet,
    ListModelMixin,
    mixins.RetrieveModelMixin,
):
    """AI provider configurations you manage (bring your own key)."""

    queryset = AIProviderConfig.objects.all()
    serializer_class = AIProviderConfigSerializer
    pagination_class = CursorPagination
    scope_resource = "billing"
    scope_map = _WRITES_SESSION_ONLY
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[AIProviderConfig]) -> QuerySet[AIProviderConfig]:
        return qs.filter(ai_configs.manageable_configs_q(self.request.user))

    def _read(self, config: AIProviderConfig, code: int = status.HTTP_200_OK) -> Response:
        return Response(AIProviderConfigSerializer(config).data, status=code)

    @extend_schema(request=AIProviderConfigCreateSerializer, responses={201: AIProviderConfigSerializer})
    def create(self, request: Request) -> Response:
        serializer = AIProviderConfigCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        config = ai_configs.create_provider_config(actor=request.user, **serializer.validated_data)
        return self._read(config, status.HTTP_201_CREATED)

    @extend_schema(request=AIProviderConfigUpdateSerializer, responses=AIProviderConfigSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        config = self.get_object()
        serializer = AIProviderConfigUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        return self._read(
            ai_configs.update_provider_config(actor=request.user, config=config, changes=changes)
        )

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        ai_configs.delete_provider_config(actor=request.user, config=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=AIProviderConfigSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        """A 1-token call; ``last_verified_at`` or ``last_error`` tells the outcome."""
        return self._read(ai_configs.verify_provider_config(actor=request.user, config=self.get_object()))


# --- usage -----------------------------------------------------------------------


class AIUsageSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AIUsage
        fields = (
            "id",
            "created_at",
            "user",
            "agent",
            "organization",
            "project",
            "provider_config",
            "billing_account_id",
            "provider",
            "model",
            "feature",
            "request_ref",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cost_micros",
            "is_byok",
            "price_missing",
            "latency_ms",
            "status",
            "error_code",
        )
        read_only_fields = fields


class AIUsagePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AIUsageSerializer(many=True)


class UsageSumsSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    error_calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    cost_micros = serializers.IntegerField()


class UsageGroupSerializer(UsageSumsSerializer):
    key = serializers.CharField(allow_null=True, help_text="The day (ISO), model, agent id or user id.")


class UsageGroupedSerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=["day", "model", "agent", "user"])
    date_from = serializers.DateField(source="from")
    date_to = serializers.DateField(source="to")
    results = UsageGroupSerializer(many=True)


class UsageSummarySerializer(UsageSumsSerializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    byok_cost_micros = serializers.IntegerField()
    platform_cost_micros = serializers.IntegerField()


class _UsageQuery(serializers.Serializer):
    # ``from``/``to`` are Python keywords: read from the query string by hand
    group_by = serializers.ChoiceField(choices=["day", "model", "agent", "user"], required=False)
    organization = NetworkScopedRelatedField(queryset=Organization.objects.all(), required=False)
    agent = NetworkScopedRelatedField(queryset=User.objects.filter(is_ai=True), required=False)
    model = serializers.CharField(max_length=200, required=False)
    feature = serializers.ChoiceField(choices=AIFeature.choices, required=False)
    status = serializers.ChoiceField(choices=AIUsageStatus.choices, required=False)


_USAGE_PARAMS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (UTC), default the 1st of this month"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (UTC, inclusive), default today"),
    OpenApiParameter("organization", OpenApiTypes.UUID, description="An organization's usage (org.billing)"),
    OpenApiParameter("agent", OpenApiTypes.UUID),
    OpenApiParameter("model", OpenApiTypes.STR),
]


def _date_param(request: Request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed("Use a date as YYYY-MM-DD.", field=name) from exc


@extend_schema(tags=["ai"])
class AIUsageViewSet(NetworkScopedViewSet, ListModelMixin):
    """Your AI calls and your agents' (or an organization's, for its billing roles)."""

    queryset = AIUsage.objects.all()
    serializer_class = AIUsageSerializer
    pagination_class = CursorPagination
    scope_resource = "usage"

    def _query(self) -> dict[str, Any]:
        cached = getattr(self, "_cached_query", None)
        if cached is not None:
            return cached
        serializer = _UsageQuery(data=self.request.query_params, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        today = selectors.utc_today()
        data["from"] = _date_param(self.request, "from", today.replace(day=1))
        data["to"] = _date_param(self.request, "to", today)
        if data["from"] > data["to"]:
            raise ValidationFailed("'from' is after 'to'.", field="from")
        if (data["to"] - data["from"]).days >= MAX_RANGE_DAYS:
            raise ValidationFailed(f"A range covers at most {MAX_RANGE_DAYS} days.", field="from")
        data["visible"] = selectors.usage_visibility_q(
            self.request.user, organization=data.pop("organization", None)
        )
        self._cached_query = data
        return data

    def scope_queryset(self, qs: QuerySet[AIUsage]) -> QuerySet[AIUsage]:
        query = self._query()
        qs = qs.filter(query["visible"])
        if self.action == "list" and not query.get("group_by"):
            qs = qs.filter(
                created_at__gte=selectors.day_start(query["from"]),
                created_at__lt=selectors.day_start(query["to"] + timedelta(days=1)),
            )
            for name in ("model", "feature", "status"):
                if name in query:
                    qs = qs.filter(**{name: query[name]})
            if "agent" in query:
                qs = qs.filter(agent=query["agent"])
        return qs

    def _filters(self, query: dict[str, Any]) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        if "model" in query:
            filters["model"] = query["model"]
        if "agent" in query:
            filters["agent_id"] = query["agent"].pk
        return filters

    def _sums(self, query: dict[str, Any], group_by: str) -> list[dict[str, Any]]:
        # the roll-up rows under the same rules as the live rows (network, visibility, org policy)
        daily = policy_restricted(
            self.request, AIUsageDaily.objects.filter(query["visible"], network=self.network)
        )
        return selectors.usage_sums(
            live=self.get_queryset(),
            daily=daily,
            start=query["from"],
            end=query["to"],
            group_by=group_by,
            filters=self._filters(query),
        )

    @extend_schema(
        parameters=[
            *_USAGE_PARAMS,
            OpenApiParameter("group_by", OpenApiTypes.STR, enum=["day", "model", "agent", "user"]),
            OpenApiParameter("feature", OpenApiTypes.STR, enum=AIFeature.values, description="Rows only"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=AIUsageStatus.values, description="Rows only"),
        ],
        responses=PolymorphicProxySerializer(
            component_name="AIUsageListOrGroups",
            serializers=[AIUsagePageSerializer, UsageGroupedSerializer],
            resource_type_field_name=None,
        ),
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Rows newest first (cursor pages); with ``group_by``, sums per day, model, agent or user."""
        query = self._query()
        group_by = query.get("group_by")
        if not group_by:
            return super().list(request, *args, **kwargs)
        results = self._sums(query, group_by)
        return Response(
            {"group_by": group_by, "date_from": query["from"], "date_to": query["to"], "results": results}
        )

    @extend_schema(parameters=_USAGE_PARAMS, responses=UsageSummarySerializer)
    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        """Totals over the range (default: this month so far), split BYOK / platform."""
        query = self._query()
        groups = self._sums(query, "is_byok")
        total = {name: sum(g[name] for g in groups) for name in selectors.SUMS}
        byok = sum(g["cost_micros"] for g in groups if g["key"] == "True")
        return Response(
            {
                **total,
                "date_from": query["from"],
                "date_to": query["to"],
                "byok_cost_micros": byok,
                "platform_cost_micros": total["cost_micros"] - byok,
            }
        )


# --- models and prices ---------------------------------------------------------------


class AIModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelPrice
        fields = (
            "provider",
            "model",
            "input_per_mtok_micros",
            "output_per_mtok_micros",
            "cached_input_per_mtok_micros",
            "effective_at",
        )
        read_only_fields = fields


@extend_schema(tags=["ai"])
class AIModelListView(UnscopedAPIView):
    """Models with a price in effect now (micro-dollars per million tokens)."""

    unscoped_reason = "ModelPrice is a global price list, the same for every network"
    scope_resource = "usage"

    @extend_schema(
        parameters=[OpenApiParameter("provider", OpenApiTypes.STR, enum=ProviderKind.values)],
        responses=AIModelSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        qs = ModelPrice.objects.filter(effective_at__lte=timezone.now())
        provider = request.query_params.get("provider")
        if provider:
            qs = qs.filter(provider=provider) if provider in ProviderKind.values else qs.none()
        qs = qs.order_by("provider", "model", "-effective_at").distinct("provider", "model")
        return Response(AIModelSerializer(qs[:1000], many=True).data)
