"""``/communities/`` (+join, +leave, members, bans), ``/community-members/``.

A private community the caller cannot see is a 404 here and under it; a
visible one the caller may not change is a 403 (``permissions``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet
from apps.core.exceptions import InvalidState, NotFound

from .. import permissions as perms
from .. import selectors, services
from ..models import Community, CommunityMember, MemberStatus
from . import serializers as s


class _ViewerMembership:
    def __init__(self, role: str | None, status: str | None) -> None:
        self.role, self.status = role, status


def with_viewer_membership(qs: QuerySet[Community], viewer: Any) -> QuerySet[Community]:
    """Annotate the viewer's role and status (two subqueries in the same query)."""
    mine = CommunityMember.objects.filter(community=OuterRef("pk"), user_id=getattr(viewer, "pk", None))
    return qs.annotate(
        viewer_role_value=Subquery(mine.values("role")[:1]),
        viewer_status_value=Subquery(mine.values("status")[:1]),
    )


class CommunityReadSerializer(s.CommunitySerializer):
    def _membership(self, obj: Community) -> Any:
        status_value = getattr(obj, "viewer_status_value", None)
        if status_value is None:
            return None
        return _ViewerMembership(getattr(obj, "viewer_role_value", None), status_value)


@extend_schema(tags=["social"])
class CommunityViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Communities you can see (private ones only when you are in them)."""

    queryset = Community.objects.select_related("owner_user", "owner_organization")
    serializer_class = CommunityReadSerializer
    scope_resource = "communities"
    allow_anonymous = True
    permission_classes = (permissions.IsAuthenticatedOrReadOnly,)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Community]) -> QuerySet[Community]:
        viewer = self.request.user
        qs = with_viewer_membership(selectors.visible_communities(qs, viewer=viewer), viewer)
        if self.action != "list":
            return qs
        params = self.request.query_params
        if params.get("visibility") in Community.Visibility.values:
            qs = qs.filter(visibility=params["visibility"])
        if params.get("slug"):
            qs = qs.filter(slug=params["slug"].lower()[:50])
        if params.get("joined") in ("1", "true") and perms.is_authenticated(viewer):
            qs = qs.filter(pk__in=selectors.joined_community_ids(viewer))
        if params.get("archived") not in ("1", "true"):
            qs = qs.filter(archived_at__isnull=True)
        text = (params.get("q") or "").strip()[:100]
        if text:
            qs = qs.filter(Q(name__icontains=text) | Q(slug__icontains=text))
        return qs

    def _read(self, community: Community, *, code: int = status.HTTP_200_OK) -> Response:
        row = with_viewer_membership(Community.objects.filter(pk=community.pk), self.request.user)
        row = row.select_related("owner_user", "owner_organization").get()
        return Response(CommunityReadSerializer(row, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("visibility", OpenApiTypes.STR, enum=Community.Visibility.values),
            OpenApiParameter("slug", OpenApiTypes.STR),
            OpenApiParameter("joined", OpenApiTypes.BOOL, description="Only communities you are a member of"),
            OpenApiParameter("archived", OpenApiTypes.BOOL, description="Include archived communities"),
            OpenApiParameter("q", OpenApiTypes.STR, description="Name or slug contains"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.CommunityCreateSerializer, responses={201: CommunityReadSerializer})
    def create(self, request: Request) -> Response:
        serializer = s.CommunityCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        community = services.create_community(actor=request.user, **serializer.validated_data)
        return self._read(community, code=status.HTTP_201_CREATED)

    @extend_schema(request=s.CommunityUpdateSerializer, responses=CommunityReadSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        community = self.get_object()
        serializer = s.CommunityUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        community = services.update_community(
            actor=request.user, community=community, **serializer.validated_data
        )
        return self._read(community)

    @extend_schema(
        request=None, responses=CommunityReadSerializer, description="Archive the community (owners)."
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.archive_community(actor=request.user, community=self.get_object()))

    @extend_schema(request=s.JoinSerializer, responses=s.CommunityMemberSerializer)
    @action(detail=True, methods=["post"])
    def join(self, request: Request, pk: str | None = None) -> Response:
        """Join (public) or ask to join (restricted: pending until a moderator approves)."""
        community = self.get_object()
        serializer = s.JoinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.join_community(actor=request.user, community=community, **serializer.validated_data)
        return Response(s.CommunityMemberSerializer(member).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def leave(self, request: Request, pk: str | None = None) -> Response:
        services.leave_community(actor=request.user, community=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class _CommunityNested(NetworkScopedViewSet, ListModelMixin):
    # /communities/{community_pk}/<rows>/ of a community the caller can see (else 404)
    queryset = CommunityMember.objects.select_related("user", "community")
    serializer_class = s.CommunityMemberSerializer
    scope_resource = "communities"
    organization_url_kwarg = "community_pk"

    @cached_property
    def community(self) -> Community:
        return selectors.community_for(
            network=self.network, viewer=self.request.user, pk=self.kwargs["community_pk"]
        )


@extend_schema(tags=["social"])
class CommunityMembersViewSet(_CommunityNested):
    """Members of a community (``status`` pending or banned: moderators only); moderators add people."""

    def scope_queryset(self, qs: QuerySet[CommunityMember]) -> QuerySet[CommunityMember]:
        qs = qs.filter(community=self.community)
        wanted = self.request.query_params.get("status") or MemberStatus.ACTIVE
        if wanted not in MemberStatus.values:
            return qs.none()
        if wanted != MemberStatus.ACTIVE and not perms.can_moderate(self.request.user, self.community):
            return qs.none()
        return qs.filter(status=wanted)

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=MemberStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.MemberAddSerializer, responses={201: s.CommunityMemberSerializer})
    def create(self, request: Request, community_pk: str) -> Response:
        community = self.community  # an unseen community is a 404 before the body is read
        serializer = s.MemberAddSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        member = services.add_member(actor=request.user, community=community, **serializer.validated_data)
        return Response(s.CommunityMemberSerializer(member).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["social"])
class CommunityBansViewSet(_CommunityNested):
    """Banned people of a community (moderators); ban someone, member or not."""

    def scope_queryset(self, qs: QuerySet[CommunityMember]) -> QuerySet[CommunityMember]:
        if not perms.can_moderate(self.request.user, self.community):
            return qs.none()
        return qs.filter(community=self.community, status=MemberStatus.BANNED)

    @extend_schema(request=s.BanSerializer, responses={201: s.CommunityMemberSerializer})
    def create(self, request: Request, community_pk: str) -> Response:
        community = self.community  # an unseen community is a 404 before the body is read
        serializer = s.BanSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        member = services.ban_member(actor=request.user, community=community, **serializer.validated_data)
        return Response(s.CommunityMemberSerializer(member).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["social"])
class CommunityMemberViewSet(NetworkScopedViewSet, mixins.RetrieveModelMixin):
    """One membership: role changes (owners), approve / ban / unban and removal (moderators)."""

    queryset = CommunityMember.objects.select_related("user", "community")
    serializer_class = s.CommunityMemberSerializer
    scope_resource = "communities"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[CommunityMember]) -> QuerySet[CommunityMember]:
        # other people's pending and banned rows: their community's moderators (``_member``)
        return qs.filter(perms.visible_communities_q(self.request.user, prefix="community__"))

    def _member(self) -> CommunityMember:
        member = self.get_object()
        if member.status != MemberStatus.ACTIVE and member.user_id != self.request.user.pk:
            if not perms.can_moderate(self.request.user, member.community):
                raise NotFound()
        return member

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(s.CommunityMemberSerializer(self._member()).data)

    @extend_schema(request=s.CommunityMemberRoleSerializer, responses=s.CommunityMemberSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        member = self._member()
        serializer = s.CommunityMemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.set_member_role(
            actor=request.user, member=member, role=serializer.validated_data["role"]
        )
        return Response(s.CommunityMemberSerializer(member).data)

    @extend_schema(
        request=None, responses={204: None}, description="Reject a request, remove a member, or lift a ban."
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        member = self._member()
        if member.user_id == request.user.pk and member.status != MemberStatus.BANNED:
            services.leave_community(actor=request.user, community=member.community)
        else:
            services.remove_member(
                actor=request.user, member=member, reason=request.query_params.get("reason", "")[:2000]
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.CommunityMemberSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        member = services.approve_member(actor=request.user, member=self._member())
        return Response(s.CommunityMemberSerializer(member).data)

    @extend_schema(request=s.MemberBanSerializer, responses=s.CommunityMemberSerializer)
    @action(detail=True, methods=["post"])
    def ban(self, request: Request, pk: str | None = None) -> Response:
        member = self._member()
        serializer = s.MemberBanSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.ban_member(
            actor=request.user, community=member.community, user=member.user, **serializer.validated_data
        )
        return Response(s.CommunityMemberSerializer(member).data)

    @extend_schema(request=s.ModerationReasonSerializer, responses={204: None})
    @action(detail=True, methods=["post"])
    def unban(self, request: Request, pk: str | None = None) -> Response:
        member = self._member()
        if member.status != MemberStatus.BANNED:
            raise InvalidState("This person is not banned here.")
        serializer = s.ModerationReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.unban_member(
            actor=request.user,
            community=member.community,
            user=member.user,
            reason=serializer.validated_data["reason"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
