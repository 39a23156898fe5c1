"""REST for organizations (SCHEMA §3): orgs, members, invitations, settings, policy, audit log.

Every org-owned route runs ``OrganizationPermission`` (role matrix + security
policy); services repeat the role check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet, UnscopedAPIView
from apps.core.models import AuditEvent

from .. import roles, selectors, services
from ..audit import audit_context
from ..models import Organization, OrganizationMember, OrganizationSecurityPolicy, OrganizationSettings
from ..permissions import OrganizationPermission
from .serializers import (
    AcceptedInvitationSerializer,
    AcceptInvitationSerializer,
    AuditEventSerializer,
    MemberCreateSerializer,
    MemberRoleSerializer,
    OrganizationMemberSerializer,
    OrganizationSecurityPolicySerializer,
    OrganizationSerializer,
    OrganizationSettingsSerializer,
    OrganizationWriteSerializer,
    TransferOwnershipSerializer,
)

UUID_RE = r"[0-9a-fA-F-]{36}"
_TRUE = ("true", "1", "yes")


def _annotated(org: Organization, viewer: Any) -> Organization:
    return selectors.with_viewer_role(Organization.objects.filter(pk=org.pk), viewer=viewer).get()


@extend_schema(tags=["organizations"])
class OrganizationViewSet(
    NetworkScopedViewSet,
    ListModelMixin,
    mixins.RetrieveModelMixin,
):
    """Organizations: yours by default, ``?all=true`` for the network's live ones."""

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    permission_classes = [OrganizationPermission]
    scope_resource = "orgs"
    lookup_value_regex = UUID_RE
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    org_permissions = {
        "retrieve": None,
        "partial_update": "org.edit",
        "destroy": "org.archive",
        "transfer_ownership": "org.transfer_ownership",
    }

    def scope_queryset(self, qs: QuerySet[Organization]) -> QuerySet[Organization]:
        user = self.request.user
        if self.action == "list":
            params = self.request.query_params
            if params.get("all") in _TRUE:
                qs = qs.filter(archived_at__isnull=True)
            else:
                qs = selectors.user_organizations(qs, user=user, archived=params.get("archived") in _TRUE)
        else:
            qs = selectors.visible_organizations(qs, viewer=user)
        return selectors.with_viewer_role(qs.select_related("security_policy", "settings"), viewer=user)

    @extend_schema(
        parameters=[
            OpenApiParameter("all", OpenApiTypes.BOOL, description="Every live organization of the network"),
            OpenApiParameter(
                "archived", OpenApiTypes.BOOL, description="Your archived organizations instead"
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=OrganizationWriteSerializer, responses={201: OrganizationSerializer})
    def create(self, request: Request) -> Response:
        serializer = OrganizationWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = services.create_organization(
            actor=request.user, via=audit_context(request), **serializer.validated_data
        )
        data = OrganizationSerializer(
            _annotated(org, request.user), context=self.get_serializer_context()
        ).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OrganizationWriteSerializer(partial=True), responses=OrganizationSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        org = self.get_object()
        serializer = OrganizationWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        org = services.update_organization(
            actor=request.user, organization=org, via=audit_context(request), **serializer.validated_data
        )
        return Response(OrganizationSerializer(_annotated(org, request.user)).data)

    @extend_schema(request=None, responses={204: None}, description="Archive (owners only).")
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        org = self.get_object()
        services.archive_organization(actor=request.user, organization=org, via=audit_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=TransferOwnershipSerializer, responses=OrganizationMemberSerializer)
    @action(detail=True, methods=["post"], url_path="transfer-ownership")
    def transfer_ownership(self, request: Request, pk: str | None = None) -> Response:
        org = self.get_object()
        serializer = TransferOwnershipSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        member = services.transfer_ownership(
            actor=request.user,
            organization=org,
            new_owner=serializer.validated_data["user"],
            via=audit_context(request),
        )
        return Response(OrganizationMemberSerializer(member).data)


class _OrgNestedViewSet(NetworkScopedViewSet):
    """Routes under ``organizations/{organization_pk}/``; the permission class loads the org."""

    permission_classes = [OrganizationPermission]
    organization_url_kwarg = "organization_pk"
    scope_resource = "orgs"

    @property
    def organization(self) -> Organization:
        return self.request.organization


@extend_schema(tags=["organizations"])
class OrganizationMemberListViewSet(_OrgNestedViewSet, ListModelMixin):
    """Members of an organization (and pending invitations, for those who may invite)."""

    queryset = OrganizationMember.objects.all()
    serializer_class = OrganizationMemberSerializer
    org_permissions = {"list": "org.view", "create": "org.members.invite"}

    def scope_queryset(self, qs: QuerySet[OrganizationMember]) -> QuerySet[OrganizationMember]:
        # the detail's rule (selectors.visible_memberships): invitations only for those who may invite
        qs = selectors.visible_memberships(
            qs.filter(organization=self.organization), viewer=self.request.user
        )
        wanted = self.request.query_params.get("status")
        if wanted in (OrganizationMember.Status.INVITED, OrganizationMember.Status.ACTIVE):
            qs = qs.filter(status=wanted)
        wanted_role = self.request.query_params.get("role")
        if wanted_role in roles.ALL_ROLES:
            qs = qs.filter(role=wanted_role)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=["active", "invited"]),
            OpenApiParameter("role", OpenApiTypes.STR, enum=list(roles.ALL_ROLES)),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=MemberCreateSerializer,
        responses={201: OrganizationMemberSerializer},
        description="Add a user of the network by id (active at once) or invite by email (mailed link).",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = MemberCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        via = audit_context(request)
        if data.get("user"):
            member = services.add_member(
                actor=request.user,
                organization=self.organization,
                user=data["user"],
                role=data["role"],
                via=via,
            )
        else:
            member = services.invite_member(
                actor=request.user,
                organization=self.organization,
                email=data["email"],
                role=data["role"],
                via=via,
            ).member
        return Response(OrganizationMemberSerializer(member).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["organizations"])
class OrganizationMemberViewSet(NetworkScopedViewSet):
    """One membership or invitation: PATCH the role; DELETE removes it (your own = leave)."""

    queryset = OrganizationMember.objects.all()
    serializer_class = OrganizationMemberSerializer
    permission_classes = [OrganizationPermission]
    scope_resource = "orgs"
    lookup_value_regex = UUID_RE
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[OrganizationMember]) -> QuerySet[OrganizationMember]:
        return selectors.visible_memberships(qs, viewer=self.request.user)

    def get_org_permission(self, request: Request, obj: Any) -> str | None:
        if obj is None or request.method in ("GET", "HEAD", "OPTIONS"):
            return "org.view"
        if request.method == "DELETE":
            if obj.user_id == request.user.pk:
                return "org.view"
            return (
                "org.members.invite"
                if obj.status == OrganizationMember.Status.INVITED
                else "org.members.remove"
            )
        return "org.members.change_role"

    @extend_schema(responses=OrganizationMemberSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(OrganizationMemberSerializer(self.get_object()).data)

    @extend_schema(request=MemberRoleSerializer, responses=OrganizationMemberSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        member = self.get_object()
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.change_member_role(
            actor=request.user,
            member=member,
            role=serializer.validated_data["role"],
            via=audit_context(request),
        )
        return Response(OrganizationMemberSerializer(member).data)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        member = self.get_object()
        services.remove_member(actor=request.user, member=member, via=audit_context(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class _SingletonViewSet(_OrgNestedViewSet):
    """GET/PATCH of an org's 1:1 row (the org comes from ``{organization_pk}``)."""

    http_method_names = ["get", "patch", "head", "options"]
    # the services that read and update the row (set by each subclass)
    row_of: Callable[[Organization], Model]
    update_row: Callable[..., Model]

    def retrieve(self, request: Request, organization_pk: str | None = None) -> Response:
        return Response(self.get_serializer(self.row_of(self.organization)).data)

    def partial_update(self, request: Request, organization_pk: str | None = None) -> Response:
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = self.update_row(
            actor=request.user,
            organization=self.organization,
            via=audit_context(request),
            **serializer.validated_data,
        )
        return Response(self.get_serializer(row).data)


@extend_schema(tags=["organizations"])
class OrganizationSettingsViewSet(_SingletonViewSet):
    queryset = OrganizationSettings.objects.all()
    serializer_class = OrganizationSettingsSerializer
    org_permissions = {"retrieve": "org.view", "partial_update": "org.edit"}
    row_of = staticmethod(services.settings_of)
    update_row = staticmethod(services.update_settings)


@extend_schema(tags=["organizations"])
class OrganizationSecurityPolicyViewSet(_SingletonViewSet):
    queryset = OrganizationSecurityPolicy.objects.all()
    serializer_class = OrganizationSecurityPolicySerializer
    org_permissions = {"retrieve": "org.security_policy.view", "partial_update": "org.security_policy"}
    row_of = staticmethod(services.policy_of)
    update_row = staticmethod(services.update_security_policy)


@extend_schema(tags=["organizations"])
class OrganizationAuditEventViewSet(_OrgNestedViewSet, ListModelMixin):
    """The organization's audit log, newest first (owners and admins)."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    org_permissions = {"list": "org.audit_log"}

    def scope_queryset(self, qs: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        qs = qs.filter(organization=self.organization).select_related("actor")
        wanted = self.request.query_params.get("action")
        if wanted:
            qs = qs.filter(action__startswith=wanted[:64])
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, description="Action prefix, e.g. org.member.")
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["organizations"])
class AcceptInvitationView(UnscopedAPIView):
    """Accept an organization invitation with the token from the mail."""

    unscoped_reason = "the invitation is found by its token hash, within the caller's network"
    scope_resource = "orgs"

    @extend_schema(request=AcceptInvitationSerializer, responses={200: AcceptedInvitationSerializer})
    def post(self, request: Request) -> Response:
        serializer = AcceptInvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.accept_invitation(
            user=request.user, token=serializer.validated_data["token"], via=audit_context(request)
        )
        org = _annotated(member.organization, request.user)
        return Response(
            {
                "organization": OrganizationSerializer(org).data,
                "membership": OrganizationMemberSerializer(member).data,
            }
        )
