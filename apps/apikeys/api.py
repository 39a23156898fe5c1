"""``/api/v1/api-keys/``: list, create (secret shown once), read, rename, revoke, rotate, usage, scopes.

Key management is session-only (``api_key_forbidden``); minting a secret
(create, rotate) also needs recent authentication (see ``reauth``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import User
from apps.accounts.services import client_ip
from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet
from apps.core.pagination import CursorPagination
from apps.core.serializers import FastReadMixin
from apps.organizations.models import Organization

from . import reauth, selectors, services
from .models import ApiKey, ApiKeyUsage
from .scopes import PRESETS, SCOPES


class ApiKeySerializer(FastReadMixin, serializers.ModelSerializer):
    key_hint = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        fields = (
            "id",
            "name",
            "prefix",
            "key_hint",
            "user",
            "organization",
            "scopes",
            "allowed_ips",
            "expires_at",
            "is_active",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
            "revoke_reason",
            "replaced_by",
            "created_by",
            "created_at",
        )
        read_only_fields = fields

    def get_key_hint(self, obj: ApiKey) -> str:
        return f"col_{obj.prefix}_…"


class ApiKeyIssuedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The full key. Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = (*ApiKeySerializer.Meta.fields, "key")
        read_only_fields = fields


def _issued(issued: services.IssuedKey, context: dict[str, Any]) -> dict[str, Any]:
    data = dict(ApiKeyIssuedSerializer(issued.api_key, context=context).data)
    data["key"] = issued.token
    return data


def _manageable_agents(qs: QuerySet, request: Any) -> QuerySet:
    return qs.filter(selectors.manageable_agents_q(request.user))


class ReauthSerializer(serializers.Serializer):
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Your password; not needed if you signed in within the last 10 minutes.",
    )


class ApiKeyCreateSerializer(ReauthSerializer):
    name = serializers.CharField(max_length=200)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=False,
        max_length=200,
        help_text="Scopes (`resource:action`) and/or presets (read-only, agent-default, full).",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Default now + 90 days; at most 365 days."
    )
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=50,
        help_text="IPs or CIDR ranges.",
    )
    organization = NetworkScopedRelatedField(
        queryset=Organization.objects.filter(archived_at__isnull=True),
        required=False,
        allow_null=True,
        help_text="Limit the key to this organization (you or the agent must be a member).",
    )
    agent = NetworkScopedRelatedField(
        queryset=User.objects.filter(is_ai=True),
        scope=_manageable_agents,
        required=False,
        allow_null=True,
        help_text="Mint the key for one of your agents instead of yourself.",
    )


class ApiKeyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class ApiKeyRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ApiKeyUsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKeyUsage
        fields = ("hour_at", "request_count", "error_count", "throttled_count")
        read_only_fields = fields


class ScopeSerializer(serializers.Serializer):
    scope = serializers.CharField()
    description = serializers.CharField()


class PresetSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())


class ScopeRegistrySerializer(serializers.Serializer):
    scopes = ScopeSerializer(many=True)
    presets = PresetSerializer(many=True)


class UsagePagination(CursorPagination):
    ordering = "-hour_at"


@extend_schema(tags=["api-keys"])
class ApiKeyViewSet(
    NetworkScopedViewSet,
    ListModelMixin,
    mixins.RetrieveModelMixin,
):
    """Your API keys and those of the agents you manage (sessions only)."""

    queryset = ApiKey.objects.all()
    serializer_class = ApiKeySerializer
    api_key_forbidden = True
    http_method_names = ["get", "post", "patch", "head", "options"]

    def scope_queryset(self, qs: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        qs = selectors.visible_api_keys(qs, viewer=self.request.user)
        if self.action == "list":
            params = self.request.query_params
            agent = params.get("agent")
            if agent:
                try:
                    qs = qs.filter(user_id=serializers.UUIDField().to_internal_value(agent))
                except serializers.ValidationError:
                    qs = qs.none()
            if params.get("active") in ("true", "1"):
                qs = selectors.active_keys(qs)
            elif params.get("active") in ("false", "0"):
                qs = qs.exclude(pk__in=selectors.active_keys(qs).values("pk"))
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("agent", OpenApiTypes.UUID, description="Only this agent's keys"),
            OpenApiParameter(
                "active", OpenApiTypes.BOOL, description="Only live (true) or dead (false) keys"
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyIssuedSerializer})
    def create(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        reauth.require_recent_authentication(request, password=data.pop("password", None))
        issued = services.create_api_key(actor=request.user, **data)
        return Response(_issued(issued, self.get_serializer_context()), status=status.HTTP_201_CREATED)

    @extend_schema(request=ApiKeyUpdateSerializer, responses=ApiKeySerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        api_key = self.get_object()
        serializer = ApiKeyUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key = services.rename_api_key(actor=request.user, api_key=api_key, **serializer.validated_data)
        return Response(ApiKeySerializer(api_key, context=self.get_serializer_context()).data)

    @extend_schema(request=ApiKeyRevokeSerializer, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        api_key = self.get_object()
        serializer = ApiKeyRevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key = services.revoke_api_key(
            actor=request.user,
            api_key=api_key,
            reason=serializer.validated_data.get("reason", ""),
            ip=client_ip(request),
        )
        return Response(ApiKeySerializer(api_key, context=self.get_serializer_context()).data)

    @extend_schema(request=ReauthSerializer, responses={201: ApiKeyIssuedSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, pk: str | None = None) -> Response:
        api_key = self.get_object()
        serializer = ReauthSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reauth.require_recent_authentication(request, password=serializer.validated_data.get("password"))
        issued = services.rotate_api_key(actor=request.user, api_key=api_key)
        return Response(_issued(issued, self.get_serializer_context()), status=status.HTTP_201_CREATED)

    @extend_schema(responses=ApiKeyUsageSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=UsagePagination)
    def usage(self, request: Request, pk: str | None = None) -> Response:
        api_key = self.get_object()
        qs = ApiKeyUsage.objects.filter(network=self.network, api_key=api_key)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ApiKeyUsageSerializer(page, many=True).data)

    @extend_schema(responses=ScopeRegistrySerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def scopes(self, request: Request) -> Response:
        return Response(
            {
                "scopes": [{"scope": scope, "description": text} for scope, text in SCOPES.items()],
                "presets": [
                    {"name": name, "description": text, "scopes": list(scopes)}
                    for name, (text, scopes) in PRESETS.items()
                ],
            }
        )
