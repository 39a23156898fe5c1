"""``/shares/`` (C L R) and ``/share-stats/`` (R, by channel)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import NotFound
from apps.core.serializers import FastReadMixin
from apps.social.api.serializers import UserBriefSerializer

from . import services, targets
from .models import Share, ShareChannel, ShareTarget


class ShareSerializer(FastReadMixin, serializers.ModelSerializer):
    sharer = UserBriefSerializer(read_only=True)
    url = serializers.SerializerMethodField(help_text="The short link to hand out (/s/{code})")

    class Meta:
        model = Share
        fields = (
            "id", "code", "url", "sharer", "target_type", "target_id", "target_url", "channel",
            "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
            "click_count", "unique_visitor_count", "signup_count", "last_clicked_at", "created_at",
        )  # fmt: skip
        read_only_fields = fields

    def get_url(self, obj: Share) -> str:
        return services.share_url(obj)


class ShareCreateSerializer(serializers.Serializer):
    target_type = serializers.ChoiceField(choices=ShareTarget.choices)
    target_id = serializers.UUIDField()
    channel = serializers.ChoiceField(choices=ShareChannel.choices, default=ShareChannel.LINK)
    utm_content = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    utm_term = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class ChannelStatsSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ShareChannel.choices)
    shares = serializers.IntegerField()
    clicks = serializers.IntegerField()
    unique_visitors = serializers.IntegerField()
    signups = serializers.IntegerField()


class ShareStatsSerializer(serializers.Serializer):
    target_type = serializers.ChoiceField(choices=ShareTarget.choices)
    target_id = serializers.UUIDField()
    scope = serializers.ChoiceField(choices=["own", "all"], help_text="all: you maintain the target")
    shares = serializers.IntegerField()
    clicks = serializers.IntegerField()
    unique_visitors = serializers.IntegerField()
    signups = serializers.IntegerField()
    by_channel = ChannelStatsSerializer(many=True)


def _target_filter(params: Any) -> tuple[str, Any] | None:
    target_type, target_id = params.get("target_type"), params.get("target_id")
    if not target_type and not target_id:
        return None
    if target_type not in ShareTarget.values:
        raise serializers.ValidationError(
            {"target_type": [f"Choose one of: {', '.join(ShareTarget.values)}."]}
        )
    try:
        return target_type, serializers.UUIDField().to_internal_value(target_id)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"target_id": exc.detail}) from exc


TARGET_PARAMS = [
    OpenApiParameter("target_type", OpenApiTypes.STR, enum=ShareTarget.values),
    OpenApiParameter("target_id", OpenApiTypes.UUID),
]


@extend_schema(tags=["sharing"])
class ShareViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Your share links (with a target filter, every share of a target you maintain)."""

    queryset = Share.objects.select_related("sharer", "network")
    serializer_class = ShareSerializer
    scope_resource = "shares"
    scope_map = {"create": "shares:write"}
    http_method_names = ["get", "post", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Share]) -> QuerySet[Share]:
        viewer = self.request.user
        if self.action == "list":
            wanted = _target_filter(self.request.query_params)
            if wanted is None:
                return qs.filter(sharer=viewer)
            return services.shares_of_target(
                qs, viewer=viewer, network=self.network, target_type=wanted[0], target_id=wanted[1]
            )[0]
        return qs

    def get_object(self) -> Share:
        # the scoped row, then: your own share, or one of a target you maintain (else 404)
        share = super().get_object()
        viewer = self.request.user
        if share.sharer_id != viewer.pk and not targets.is_maintainer(
            viewer=viewer, network=self.network, target_type=share.target_type, target_id=share.target_id
        ):
            raise NotFound()
        return share

    @extend_schema(parameters=TARGET_PARAMS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ShareCreateSerializer, responses={201: ShareSerializer, 200: ShareSerializer})
    def create(self, request: Request) -> Response:
        """Get-or-create your link for a target and channel (the same one comes back)."""
        serializer = ShareCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        share, created = services.create_share(actor=request.user, **serializer.validated_data)
        share = Share.objects.select_related("sharer", "network").get(pk=share.pk)
        return Response(
            ShareSerializer(share).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


@extend_schema(tags=["sharing"], parameters=TARGET_PARAMS, responses=ShareStatsSerializer)
class ShareStatsView(UnscopedAPIView):
    """Clicks, unique visitors and signups of a target's shares, by channel: yours, or all of
    them when you maintain the target."""

    unscoped_reason = "an aggregate over the caller's network's shares (filtered below), not a row list"
    scope_resource = "shares"

    def get(self, request: Request) -> Response:
        wanted = _target_filter(request.query_params)
        if wanted is None:
            raise serializers.ValidationError({"target_type": ["Name the target (target_type, target_id)."]})
        target_type, target_id = wanted
        qs, maintainer = services.shares_of_target(
            Share.objects.filter(network=self.network),
            viewer=request.user,
            network=self.network,
            target_type=target_type,
            target_id=target_id,
        )
        rows = list(
            qs.values("channel")
            .annotate(
                shares=Count("id"),
                clicks=Sum("click_count"),
                unique_visitors=Sum("unique_visitor_count"),
                signups=Sum("signup_count"),
            )
            .order_by("channel")
        )
        totals = {
            k: sum(int(r[k] or 0) for r in rows) for k in ("shares", "clicks", "unique_visitors", "signups")
        }
        data = {
            "target_type": target_type,
            "target_id": target_id,
            "scope": "all" if maintainer else "own",
            **totals,
            "by_channel": [{**r, **{k: int(r[k] or 0) for k in totals}} for r in rows],
        }
        return Response(ShareStatsSerializer(data).data)
