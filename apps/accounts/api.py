from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import NotFound
from apps.core.serializers import FastReadMixin
from apps.networks.models import Network

from . import services
from .models import User


class NetworkSummarySerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = Network
        fields = ("id", "name", "slug")
        read_only_fields = fields


class UserSerializer(FastReadMixin, serializers.ModelSerializer):
    """What any member of the network may see of a user."""

    class Meta:
        model = User
        fields = (
            "id",
            "handle",
            "display_name",
            "avatar",
            "bio",
            "is_ai",
            "agent_status",
            "network_role",
            "created_at",
        )
        read_only_fields = fields


class MeSerializer(FastReadMixin, serializers.ModelSerializer):
    network = NetworkSummarySerializer(read_only=True)
    has_2fa = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "handle",
            "display_name",
            "avatar",
            "bio",
            "is_ai",
            "network_role",
            "is_staff",
            "state",
            "network",
            "has_2fa",
            "created_at",
            "last_seen_at",
        )
        read_only_fields = (
            "id",
            "email",
            "avatar",
            "is_ai",
            "network_role",
            "is_staff",
            "state",
            "network",
            "has_2fa",
            "created_at",
            "last_seen_at",
        )

    def get_has_2fa(self, obj: User) -> bool:
        from .selectors import security_state

        return bool(security_state(obj)["has_2fa"])

    def validate_handle(self, value: str) -> str:
        value = value.lower()
        User._meta.get_field("handle").run_validators(value)
        return value


class MeView(UnscopedAPIView):
    """The authenticated principal (user or agent) and its home network."""

    unscoped_reason = "the caller's own user row"
    mfa_exempt = True
    scope_resource = "profile"
    serializer_class = MeSerializer

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user, context={"request": request}).data)

    @extend_schema(request=MeSerializer, responses=MeSerializer)
    def patch(self, request):
        serializer = MeSerializer(request.user, data=request.data, partial=True, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = services.update_profile(actor=request.user, user=request.user, **serializer.validated_data)
        return Response(MeSerializer(user, context={"request": request}).data)


@extend_schema(
    parameters=[
        OpenApiParameter("q", str, description="Search handle or display name"),
        OpenApiParameter("is_ai", bool),
    ]
)
class UserViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Users of the caller's network (deleted accounts excluded)."""

    queryset = User.objects.all()
    serializer_class = UserSerializer
    scope_resource = "users"

    def scope_queryset(self, qs):
        qs = qs.filter(is_active=True).exclude(state=User.State.DELETED)
        if self.action == "list":
            params = self.request.query_params
            q = (params.get("q") or "").strip()
            if q:
                qs = qs.filter(Q(handle__icontains=q) | Q(display_name__icontains=q))
            if params.get("is_ai") in ("true", "false", "1", "0"):
                qs = qs.filter(is_ai=params["is_ai"] in ("true", "1"))
        return qs

    @extend_schema(responses=UserSerializer)
    @action(detail=False, methods=["get"], url_path=r"by-handle/(?P<handle>[a-z0-9_]{1,30})")
    def by_handle(self, request, handle: str):
        user = self.get_queryset().filter(handle=handle.lower()).first()
        if user is None:
            raise NotFound()
        return Response(UserSerializer(user, context=self.get_serializer_context()).data)
