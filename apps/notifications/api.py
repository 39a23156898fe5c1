"""``/api/v1/notifications/`` (your deliveries) and ``/api/v1/push-tokens/`` (your devices).

``POST push-tokens/`` upserts a device (201 new, 200 known; a device known
for another user moves to you); the token itself is never shown again, only
``token_hint``. ``GET push-tokens/vapid-key/`` is the applicationServerKey for
``PushManager.subscribe``.
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

from apps.core.api import ListModelMixin, NetworkScopedViewSet
from apps.core.exceptions import ValidationFailed
from apps.core.pagination import CursorPagination
from apps.core.serializers import FastReadMixin

from . import push, selectors, services
from .models import Notification, PushNotificationToken


class NotificationSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = (
            "id",
            "kind",
            "channel",
            "title",
            "body",
            "data",
            "inbox_item",
            "status",
            "skip_reason",
            "attempts",
            "sent_at",
            "created_at",
        )
        read_only_fields = fields


class PushTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushNotificationToken
        fields = (
            "id",
            "platform",
            "provider",
            "token_hint",
            "device_label",
            "app_version",
            "enabled",
            "last_seen_at",
            "failure_count",
            "created_at",
        )
        read_only_fields = fields


class PushTokenRegisterSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=PushNotificationToken.Platform.choices)
    provider = serializers.ChoiceField(
        choices=PushNotificationToken.Provider.choices,
        required=False,
        help_text="Default: webpush for web, fcm for android, apns for ios.",
    )
    token = serializers.JSONField(
        help_text="web: the PushSubscription (object or its JSON: endpoint, keys.p256dh, keys.auth); "
        "android/ios: the device token."
    )
    device_label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    app_version = serializers.CharField(max_length=50, required=False, allow_blank=True, allow_null=True)


class PushTestResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["sent", "gone", "retry", "rejected"])
    status = serializers.IntegerField(allow_null=True, help_text="The push service's HTTP status")
    detail = serializers.CharField(allow_blank=True)


class VapidKeySerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="base64url applicationServerKey; empty when Web Push is off")


@extend_schema(tags=["notifications"])
class NotificationViewSet(NetworkScopedViewSet, ListModelMixin):
    """Your notification deliveries (push, email, in-app), newest first."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    pagination_class = CursorPagination
    scope_resource = "inbox"

    def scope_queryset(self, qs: QuerySet[Notification]) -> QuerySet[Notification]:
        qs = selectors.user_notifications(qs, user=self.request.user)
        channel = self.request.query_params.get("channel")
        if channel:
            if channel not in Notification.Channel.values:
                raise ValidationFailed("Unknown channel.", field="channel", code="invalid_choice")
            qs = qs.filter(channel=channel)
        return qs

    @extend_schema(
        parameters=[OpenApiParameter("channel", OpenApiTypes.STR, enum=Notification.Channel.values)]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["notifications"])
class PushTokenViewSet(NetworkScopedViewSet, mixins.DestroyModelMixin):
    """Your push devices: register (upsert), unregister, send a test push."""

    queryset = PushNotificationToken.objects.all()
    serializer_class = PushTokenSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    scope_map = {
        "create": "notifications:write",
        "destroy": "notifications:write",
        "test": "notifications:write",
        "vapid_key": "notifications:write",
    }

    def scope_queryset(self, qs: QuerySet[PushNotificationToken]) -> QuerySet[PushNotificationToken]:
        return selectors.user_push_tokens(qs, user=self.request.user)

    @extend_schema(
        request=PushTokenRegisterSerializer, responses={201: PushTokenSerializer, 200: PushTokenSerializer}
    )
    def create(self, request: Request) -> Response:
        body = PushTokenRegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row, created = services.register_push_token(actor=request.user, **body.validated_data)
        return Response(
            PushTokenSerializer(row).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    def perform_destroy(self, instance: PushNotificationToken) -> None:
        services.unregister_push_token(actor=self.request.user, token=instance)

    @extend_schema(request=None, responses=PushTestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        result = services.send_test_push(actor=request.user, token=self.get_object())
        return Response({"outcome": result.outcome, "status": result.status, "detail": result.error})

    @extend_schema(responses=VapidKeySerializer)
    @action(detail=False, methods=["get"], url_path="vapid-key")
    def vapid_key(self, request: Request) -> Response:
        return Response({"public_key": push.vapid_public_key()})
