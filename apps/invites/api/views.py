"""Invites API: the anonymous waitlist, code checks, members' codes, and admin waves/entries/bulk codes.

Anonymous endpoints act in the request's network (host, else default). The
waitlist join answers 202 with the same body whatever the address (no
enumeration); only the mailed links reveal anything, to the address owner.
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

from apps.core.api import ListModelMixin, NetworkScopedViewSet, UnscopedAPIView
from apps.core.clientip import client_ip
from apps.core.exceptions import PermissionDenied
from apps.core.pagination import AscendingCursorPagination
from apps.core.permissions import IsNetworkAdminOrHidden, is_network_admin
from apps.sharing.views import share_source

from .. import services
from ..models import InviteCode, InviteCodeKind, InviteWaitlist, InviteWaveConfig, WaitlistStatus, WaveStatus
from . import serializers as s


class PositionPagination(AscendingCursorPagination):
    ordering = "position"


JOINED = "Thanks! Check your inbox: we sent a link to confirm your place on the waitlist."


def _choice_filter(qs: QuerySet, params: Any, name: str, choices: list[str]) -> QuerySet:
    value = params.get(name)
    if value:
        return qs.filter(**{name: value}) if value in choices else qs.none()
    return qs


def _standing(standing: services.WaitlistStanding) -> dict[str, Any]:
    return s.WaitlistStandingSerializer(standing).data


class _Anonymous(UnscopedAPIView):
    allow_anonymous = True


@extend_schema(
    tags=["invites"], request=s.WaitlistJoinSerializer, responses={202: s.WaitlistJoinedSerializer}
)
class WaitlistJoinView(_Anonymous):
    """Join the waitlist (double opt-in: a confirmation link is mailed). 5 an hour per address."""

    unscoped_reason = "anonymous join in the request's network (host or default)"

    def post(self, request: Request) -> Response:
        serializer = s.WaitlistJoinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = serializer.attribution()
        if request.headers.get("Referer"):
            source["referrer"] = request.headers["Referer"][:500]
        if share := share_source(request, self.network):
            source["share"] = share
        services.join_waitlist(
            network=self.network,
            email=data["email"],
            name=data.get("name") or "",
            referral_code=data.get("referral_code") or None,
            ip=client_ip(request),
            source=source,
            honeypot=data.get("website") or "",
        )
        return Response({"detail": JOINED}, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["invites"], request=s.TokenSerializer, responses=s.WaitlistStandingSerializer)
class WaitlistVerifyView(_Anonymous):
    """Confirm the address with the mailed token (single use); returns the standing and a status token."""

    unscoped_reason = "anonymous confirmation by a mailed token in the request's network"

    def post(self, request: Request) -> Response:
        serializer = s.TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            _standing(
                services.verify_waitlist_email(network=self.network, token=serializer.validated_data["token"])
            )
        )


@extend_schema(
    tags=["invites"],
    parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
    responses=s.WaitlistStandingSerializer,
)
class WaitlistMeView(_Anonymous):
    """Your place on the waitlist: position, people ahead, referrals (by your status token)."""

    unscoped_reason = "anonymous read by a status token in the request's network"

    def get(self, request: Request) -> Response:
        token = (request.query_params.get("token") or "")[:200]
        entry = services.entry_for_status_token(network=self.network, token=token)
        return Response(_standing(services.standing(entry=entry)))


@extend_schema(tags=["invites"], request=s.CodeCheckSerializer, responses=s.CodeValidSerializer)
class InviteCodeCheckView(_Anonymous):
    """Whether an invite code can be used now (rate-limited; an address binding is checked at signup)."""

    unscoped_reason = "anonymous check of a code in the request's network"

    def post(self, request: Request) -> Response:
        serializer = s.CodeCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        valid = services.check_code_anonymously(
            network=self.network, code=serializer.validated_data["code"], ip=client_ip(request)
        )
        return Response({"valid": valid})


@extend_schema(tags=["invites"])
class InviteCodeViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Your invite codes (network admins: ``?all=true`` for every code of the network)."""

    queryset = InviteCode.objects.all()
    serializer_class = s.InviteCodeSerializer
    scope_resource = "invites"

    def scope_queryset(self, qs: QuerySet[InviteCode]) -> QuerySet[InviteCode]:
        user = self.request.user
        admin = is_network_admin(user)
        params = self.request.query_params
        if not admin or (self.action == "list" and params.get("all") not in ("true", "1")):
            qs = qs.filter(owner=user)
        if self.action == "list":
            qs = _choice_filter(qs, params, "kind", InviteCodeKind.values)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=InviteCodeKind.values),
            OpenApiParameter("all", OpenApiTypes.BOOL, description="Network admins: every code"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.SendCodeSerializer, responses=s.InviteCodeSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: str | None = None) -> Response:
        code = self.get_object()
        serializer = s.SendCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        code = services.send_code(actor=request.user, code=code, email=serializer.validated_data["email"])
        return Response(s.InviteCodeSerializer(code).data)

    @extend_schema(request=None, responses=s.InviteCodeSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        code = services.revoke_code(actor=request.user, code=self.get_object())
        return Response(s.InviteCodeSerializer(code).data)

    @extend_schema(request=s.BulkCodesSerializer, responses={201: s.BulkCodesResultSerializer})
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """Generate up to 1,000 codes (network admins; staff use the admin for more)."""
        if not is_network_admin(request.user):
            raise PermissionDenied("Only network admins may generate codes.")
        serializer = s.BulkCodesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        count, made = services.generate_codes(
            actor=request.user,
            network=self.network,
            count=data["count"],
            kind=data["kind"],
            max_uses=data["max_uses"],
            expires_at=data.get("expires_at"),
            grants=data.get("grants"),
            note=data.get("note") or "",
            limit=1000,
        )
        return Response(
            {"count": count, "codes": s.InviteCodeSerializer(made, many=True).data},
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["invites"])
class InviteWaveViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Release waves (network admins): scheduled → released; scheduled ⇄ paused; → cancelled."""

    queryset = InviteWaveConfig.objects.all()
    serializer_class = s.WaveSerializer
    permission_classes = (IsNetworkAdminOrHidden,)
    scope_resource = "invites"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def scope_queryset(self, qs: QuerySet[InviteWaveConfig]) -> QuerySet[InviteWaveConfig]:
        if not is_network_admin(self.request.user):
            return qs.none()
        if self.action == "list":
            qs = _choice_filter(qs, self.request.query_params, "status", WaveStatus.values)
        return qs

    def _read(self, wave: InviteWaveConfig, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.WaveSerializer(wave).data, status=code)

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=WaveStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.WaveWriteSerializer, responses={201: s.WaveSerializer})
    def create(self, request: Request) -> Response:
        serializer = s.WaveWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wave = services.create_wave(actor=request.user, network=self.network, **serializer.validated_data)
        return self._read(wave, status.HTTP_201_CREATED)

    @extend_schema(request=s.WaveWriteSerializer, responses=s.WaveSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        wave = self.get_object()
        serializer = s.WaveWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return self._read(
            services.update_wave(actor=request.user, wave=wave, changes=dict(serializer.validated_data))
        )

    @extend_schema(request=None, responses={202: s.WaveSerializer})
    @action(detail=True, methods=["post"], url_path="release-now")
    def release_now(self, request: Request, pk: str | None = None) -> Response:
        wave = services.release_now(actor=request.user, wave=self.get_object())
        return self._read(wave, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.WaveSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.pause_wave(actor=request.user, wave=self.get_object()))

    @extend_schema(request=None, responses=s.WaveSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.resume_wave(actor=request.user, wave=self.get_object()))

    @extend_schema(request=None, responses=s.WaveSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._read(services.cancel_wave(actor=request.user, wave=self.get_object()))


@extend_schema(tags=["invites"])
class WaitlistEntryViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """The waitlist (network admins), by position."""

    queryset = InviteWaitlist.objects.all()
    pagination_class = PositionPagination
    serializer_class = s.WaitlistEntrySerializer
    permission_classes = (IsNetworkAdminOrHidden,)
    scope_resource = "invites"

    def scope_queryset(self, qs: QuerySet[InviteWaitlist]) -> QuerySet[InviteWaitlist]:
        if not is_network_admin(self.request.user):
            return qs.none()
        if self.action == "list":
            params = self.request.query_params
            qs = _choice_filter(qs, params, "status", WaitlistStatus.values)
            if params.get("verified") in ("true", "1"):
                qs = qs.filter(email_verified_at__isnull=False)
            elif params.get("verified") in ("false", "0"):
                qs = qs.filter(email_verified_at__isnull=True)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=WaitlistStatus.values),
            OpenApiParameter("verified", OpenApiTypes.BOOL),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.InviteEntriesSerializer, responses=s.InvitedCountSerializer)
    @action(detail=False, methods=["post"])
    def invite(self, request: Request) -> Response:
        """Invite the selected confirmed, waiting entries now (others are skipped)."""
        if not is_network_admin(request.user):
            raise PermissionDenied("Only network admins may invite.")
        serializer = s.InviteEntriesSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        invited = services.invite_entries(
            actor=request.user,
            network=self.network,
            entries=serializer.validated_data["entries"],
            ttl_days=serializer.validated_data["ttl_days"],
        )
        return Response({"invited": invited})

    @extend_schema(request=None, responses=s.WaitlistEntrySerializer)
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str | None = None) -> Response:
        entry = services.remove_entry(actor=request.user, entry=self.get_object())
        return Response(s.WaitlistEntrySerializer(entry).data)
