from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api import UnscopedAPIView
from apps.core.permissions import IsNetworkAdmin

from . import services
from .models import Network


class NetworkPublicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Network
        fields = ("id", "name", "slug", "domain", "status", "invite_only", "signup_enabled", "branding")
        read_only_fields = fields


class NetworkAdminSerializer(serializers.ModelSerializer):
    class Meta:
        model = Network
        fields = (
            "id",
            "name",
            "slug",
            "domain",
            "status",
            "invite_only",
            "signup_enabled",
            "branding",
            "settings",
            "from_email",
        )
        read_only_fields = ("id", "slug", "domain", "status")


class CurrentNetworkView(UnscopedAPIView):
    """The request's network: public fields for anyone, settings for its admins."""

    unscoped_reason = "the network itself is the scope"
    allow_anonymous = True
    mfa_exempt = True
    scope_resource = "profile"
    scope_map = {"patch": None}  # API keys may read the network, never change its settings

    def get_permissions(self):  # noqa: D102 — PATCH adds the admin check
        perms = super().get_permissions()
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            perms.append(IsNetworkAdmin())
        return perms

    @extend_schema(responses=NetworkPublicSerializer)
    def get(self, request):
        user = request.user
        if user.is_authenticated and (user.is_staff or user.network_role == "admin"):
            return Response(NetworkAdminSerializer(request.network).data)
        return Response(NetworkPublicSerializer(request.network).data)

    @extend_schema(request=NetworkAdminSerializer, responses=NetworkAdminSerializer)
    def patch(self, request):
        serializer = NetworkAdminSerializer(request.network, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        network = services.update_network(
            actor=request.user, network=request.network, **serializer.validated_data
        )
        return Response(NetworkAdminSerializer(network).data)
