"""``/follows/``, ``/users/{id}/followers|following/``, ``/blocks/``, ``/reports/``, ``/moderation-log/``."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import User
from apps.core.api import ListModelMixin, NetworkScopedViewSet
from apps.core.exceptions import NotFound

from .. import permissions as perms
from .. import selectors, services
from ..models import Block, CommunityMember, Follow, MemberRole, MemberStatus, ModerationLogEntry, Report
from ..services.reports import can_handle, moderated_reports_q
from . import serializers as s


def _uuid(value: str | None) -> Any:
    try:
        return serializers.UUIDField().to_internal_value(value)
    except serializers.ValidationError:
        return False


@extend_schema(tags=["social"])
class FollowViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Whom you follow: people, organizations and communities."""

    queryset = Follow.objects.select_related(
        "follower", "followee_user", "followee_organization", "followee_community"
    )
    serializer_class = s.FollowSerializer
    scope_resource = "posts"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Follow]) -> QuerySet[Follow]:
        return qs.filter(follower=self.request.user)

    @extend_schema(
        request=s.FollowCreateSerializer, responses={201: s.FollowSerializer, 200: s.FollowSerializer}
    )
    def create(self, request: Request) -> Response:
        serializer = s.FollowCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        row, created = services.follow(
            actor=request.user,
            user=data.get("followee_user"),
            organization=data.get("followee_organization"),
            community=data.get("followee_community"),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.FollowSerializer(row).data, status=code)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.unfollow(actor=request.user, follow=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class _UserFollowsBase(NetworkScopedViewSet, ListModelMixin):
    queryset = Follow.objects.all()
    serializer_class = s.FollowSerializer
    scope_resource = "users"

    def user_id(self) -> Any:
        pk = self.kwargs["user_pk"]
        if not User.objects.filter(network=self.network, pk=pk).exists():
            raise NotFound()
        return pk


@extend_schema(tags=["social"])
class UserFollowersViewSet(_UserFollowsBase):
    """Who follows this person."""

    def scope_queryset(self, qs: QuerySet[Follow]) -> QuerySet[Follow]:
        return selectors.followers_of(qs, user_id=self.user_id())


@extend_schema(tags=["social"])
class UserFollowingViewSet(_UserFollowsBase):
    """Whom this person follows."""

    def scope_queryset(self, qs: QuerySet[Follow]) -> QuerySet[Follow]:
        qs = selectors.following_of(qs, user_id=self.user_id())
        # private communities stay hidden from those who cannot see them
        return qs.filter(
            Q(followee_community__isnull=True)
            | perms.visible_communities_q(self.request.user, prefix="followee_community__")
        )


@extend_schema(tags=["social"])
class BlockViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """People you blocked: they cannot reply to you, mention-notify you, follow or message you."""

    queryset = Block.objects.select_related("blocked")
    serializer_class = s.BlockSerializer
    scope_resource = "profile"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Block]) -> QuerySet[Block]:
        return qs.filter(blocker=self.request.user)

    @extend_schema(
        request=s.BlockCreateSerializer, responses={201: s.BlockSerializer, 200: s.BlockSerializer}
    )
    def create(self, request: Request) -> Response:
        serializer = s.BlockCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        block, created = services.block_user(actor=request.user, user=serializer.validated_data["blocked"])
        return Response(
            s.BlockSerializer(block).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.unblock_user(actor=request.user, block=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["social"])
class ReportViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Report a post or a person; moderators list their queue and resolve reports."""

    queryset = Report.objects.select_related("reporter", "reported_user", "handled_by", "community")
    serializer_class = s.ReportSerializer
    scope_resource = "posts"
    http_method_names = ["get", "post", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Report]) -> QuerySet[Report]:
        viewer = self.request.user
        if self.action == "list":
            qs = qs.filter(moderated_reports_q(viewer))
            params = self.request.query_params
            wanted = params.get("status") or Report.Status.OPEN
            qs = qs.filter(status=wanted) if wanted in Report.Status.values else qs.none()
            if params.get("community"):
                community = _uuid(params["community"])
                qs = qs.filter(community_id=community) if community else qs.none()
            return qs.order_by("-id")
        return qs.filter(moderated_reports_q(viewer) | Q(reporter=viewer))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=Report.Status.values, description="default open"
            ),
            OpenApiParameter("community", OpenApiTypes.UUID),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Your moderation queue (community moderators: their communities; network moderators: all)."""
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.ReportCreateSerializer, responses={201: s.ReportSerializer, 200: s.ReportSerializer}
    )
    def create(self, request: Request) -> Response:
        serializer = s.ReportCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        report, created = services.file_report(actor=request.user, **serializer.validated_data)
        return Response(
            s.ReportSerializer(report).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=s.ReportResolveSerializer, responses=s.ReportSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        report = self.get_object()
        if not can_handle(request.user, report):
            raise NotFound()  # a reporter sees their report, not the resolve verb
        serializer = s.ReportResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = services.resolve_report(actor=request.user, report=report, **serializer.validated_data)
        return Response(s.ReportSerializer(report).data)


@extend_schema(tags=["social"])
class ModerationLogViewSet(NetworkScopedViewSet, ListModelMixin):
    """The moderation log of the communities you moderate (network moderators: everything)."""

    queryset = ModerationLogEntry.objects.select_related("moderator", "target_user", "community")
    serializer_class = s.ModerationLogEntrySerializer
    scope_resource = "communities"

    def scope_queryset(self, qs: QuerySet[ModerationLogEntry]) -> QuerySet[ModerationLogEntry]:
        viewer = self.request.user
        if not perms.is_network_moderator(viewer):
            moderated = CommunityMember.objects.filter(
                user_id=viewer.pk,
                status=MemberStatus.ACTIVE,
                role__in=[MemberRole.MODERATOR, MemberRole.OWNER],
            ).values("community_id")
            qs = qs.filter(Q(community_id__in=moderated) | Q(community__owner_user_id=viewer.pk))
        params = self.request.query_params
        for name, column in (
            ("community", "community_id"),
            ("moderator", "moderator_id"),
            ("target_id", "target_id"),
        ):
            if params.get(name):
                value = _uuid(params[name])
                qs = qs.filter(**{column: value}) if value else qs.none()
        if params.get("target_type"):
            qs = qs.filter(target_type=params["target_type"])
        if params.get("action"):
            qs = qs.filter(action=params["action"])
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("community", OpenApiTypes.UUID),
            OpenApiParameter("moderator", OpenApiTypes.UUID),
            OpenApiParameter("target_type", OpenApiTypes.STR, enum=ModerationLogEntry.Target.values),
            OpenApiParameter("target_id", OpenApiTypes.UUID),
            OpenApiParameter("action", OpenApiTypes.STR, enum=ModerationLogEntry.Action.values),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)
