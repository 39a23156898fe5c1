"""``/api/v1/email-campaigns/``, ``/email-suppressions/`` (network admins and staff).

Other members get 403 on the collections and 404 on every row (they cannot
see campaigns at all); other networks' rows are 404 as everywhere.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet
from apps.core.permissions import IsNetworkAdminOrHidden, is_network_admin

from .. import services
from ..models import (
    CampaignStatus,
    EmailCampaign,
    EmailSend,
    EmailSuppression,
    SendStatus,
    SuppressionReason,
    SuppressionScope,
)
from . import serializers as s


def _choice_filter(qs: QuerySet, params: Any, name: str, choices: list[str]) -> QuerySet:
    value = params.get(name)
    if value:
        return qs.filter(**{name: value}) if value in choices else qs.none()
    return qs


@extend_schema(tags=["mailing"])
class EmailCampaignViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """SES email campaigns: draft ⇄ scheduled → sending ⇄ paused → sent; → cancelled."""

    queryset = EmailCampaign.objects.all()
    serializer_class = s.CampaignSerializer
    permission_classes = (IsNetworkAdminOrHidden,)
    scope_resource = "campaigns"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[EmailCampaign]) -> QuerySet[EmailCampaign]:
        if not is_network_admin(self.request.user):
            return qs.none()
        if self.action == "list":
            qs = _choice_filter(qs, self.request.query_params, "status", CampaignStatus.values)
        return qs

    def _read(self, campaign: EmailCampaign, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.CampaignSerializer(campaign).data, status=code)

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=CampaignStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.CampaignWriteSerializer, responses={201: s.CampaignSerializer})
    def create(self, request: Request) -> Response:
        serializer = s.CampaignWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.create_campaign(
            actor=request.user, network=self.network, **serializer.validated_data
        )
        return self._read(campaign, status.HTTP_201_CREATED)

    @extend_schema(request=s.CampaignWriteSerializer, responses=s.CampaignSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        serializer = s.CampaignWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        campaign = services.update_campaign(
            actor=request.user, campaign=campaign, changes=dict(serializer.validated_data)
        )
        return self._read(campaign)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.delete_campaign(actor=request.user, campaign=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.ScheduleSerializer, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        serializer = s.ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._read(
            services.schedule_campaign(
                actor=request.user, campaign=campaign, scheduled_at=serializer.validated_data["scheduled_at"]
            )
        )

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def unschedule(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.unschedule_campaign(actor=request.user, campaign=self.get_object()))

    @extend_schema(request=None, responses={202: s.CampaignSerializer})
    @action(detail=True, methods=["post"], url_path="send-now")
    def send_now(self, request: Request, pk: str | None = None) -> Response:
        campaign = services.send_campaign_now(actor=request.user, campaign=self.get_object())
        return self._read(campaign, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.pause_campaign(actor=request.user, campaign=self.get_object()))

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.resume_campaign(actor=request.user, campaign=self.get_object()))

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.cancel_campaign(actor=request.user, campaign=self.get_object()))

    @extend_schema(request=s.TestSendSerializer, responses={202: s.TestSendResultSerializer})
    @action(detail=True, methods=["post"], url_path="test-send")
    def test_send(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        serializer = s.TestSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        emails = serializer.validated_data.get("emails") or [request.user.email]
        queued = services.test_send(actor=request.user, campaign=campaign, emails=emails)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=s.AudiencePreviewSerializer)
    @action(detail=True, methods=["get"], url_path="audience-preview")
    def audience_preview(self, request: Request, pk: str | None = None) -> Response:
        return Response(services.preview(campaign=self.get_object()))

    @extend_schema(
        responses=s.SendSerializer(many=True),
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=SendStatus.values)],
    )
    @action(detail=True, methods=["get"])
    def sends(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        qs = _choice_filter(
            EmailSend.objects.filter(campaign=campaign), request.query_params, "status", SendStatus.values
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.SendSerializer(page, many=True).data)


@extend_schema(tags=["mailing"])
class EmailSuppressionViewSet(
    NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin
):
    """Addresses that get no campaigns (``campaigns``) or no mail but the essential (``all``)."""

    queryset = EmailSuppression.objects.all()
    serializer_class = s.SuppressionSerializer
    permission_classes = (IsNetworkAdminOrHidden,)
    scope_resource = "campaigns"

    def scope_queryset(self, qs: QuerySet[EmailSuppression]) -> QuerySet[EmailSuppression]:
        if not is_network_admin(self.request.user):
            return qs.none()
        if self.action == "list":
            params = self.request.query_params
            qs = _choice_filter(qs, params, "scope", SuppressionScope.values)
            qs = _choice_filter(qs, params, "reason", SuppressionReason.values)
            if params.get("email"):
                qs = qs.filter(email=params["email"].strip().lower()[:254])
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("email", OpenApiTypes.EMAIL),
            OpenApiParameter("scope", OpenApiTypes.STR, enum=SuppressionScope.values),
            OpenApiParameter("reason", OpenApiTypes.STR, enum=SuppressionReason.values),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.SuppressionCreateSerializer, responses={201: s.SuppressionSerializer})
    def create(self, request: Request) -> Response:
        serializer = s.SuppressionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = services.add_manual_suppression(
            actor=request.user, network=self.network, **serializer.validated_data
        )
        return Response(s.SuppressionSerializer(row).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: EmailSuppression) -> None:
        services.remove_suppression(actor=self.request.user, suppression=instance)
