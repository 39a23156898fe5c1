"""The caller's own sessions and two-factor authentication (``/api/v1/account/…``).

API keys never reach these (``api_key_forbidden``); all are ``mfa_exempt``
so a user sent to enrolment by a ``require_2fa`` policy can enrol.

Recent authentication (decided): enrolment (``POST account/2fa/totp``) needs
an authentication of this session ≤ 10 minutes old — the login itself,
allauth's ``/_allauth/{client}/v1/auth/reauthenticate``, or a 2FA code —
else 401 ``reauthentication_required``. Confirming, disabling and
regenerating backup codes take a current code in the body; the code is the
proof of recent authentication.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import NotAuthenticated
from apps.core.serializers import FastReadMixin

from . import selectors, services, twofactor
from .models import UserSession
from .permissions import request_session, request_session_key

REAUTH_MESSAGE = (
    "Confirm it is you first: sign in again or POST your password to "
    "/_allauth/{client}/v1/auth/reauthenticate (valid for 10 minutes)."
)


# --- sessions -----------------------------------------------------------------


class UserSessionSerializer(FastReadMixin, serializers.ModelSerializer):
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = (
            "id",
            "kind",
            "device_label",
            "ip",
            "user_agent",
            "created_at",
            "last_seen_at",
            "expires_at",
            "otp_verified_at",
            "is_current",
        )
        read_only_fields = fields

    def get_is_current(self, obj: UserSession) -> bool:
        return bool(obj.session_key and obj.session_key == self.context.get("current_session_key"))


class RevokedCountSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


class UserSessionViewSet(
    NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin
):
    """The caller's signed-in sessions (browser and app); revoking one signs it out everywhere it is open."""

    queryset = UserSession.objects.all()
    serializer_class = UserSessionSerializer
    network_field = "user__network"
    mfa_exempt = True
    api_key_forbidden = True
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def scope_queryset(self, qs):
        return qs.filter(user=self.request.user, revoked_at__isnull=True, expires_at__gt=timezone.now())

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["current_session_key"] = request_session_key(self.request)
        return context

    @extend_schema(responses={204: OpenApiResponse(description="Revoked; its sockets are closed.")})
    def destroy(self, request, *args, **kwargs):
        services.revoke_sessions(user=request.user, sessions=[self.get_object()])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=RevokedCountSerializer)
    @action(detail=False, methods=["post"], url_path="revoke-others")
    def revoke_others(self, request):
        count = services.revoke_other_sessions(
            actor=request.user, current_session_key=request_session_key(request)
        )
        return Response({"revoked": count})


# --- two-factor -------------------------------------------------------------------


class CodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, help_text="A 6-digit TOTP code or a backup code.")


class TwoFactorStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    enabled_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    pending_enrolment = serializers.BooleanField()
    backup_codes_remaining = serializers.IntegerField()
    required = serializers.BooleanField(help_text="A network or organization policy requires 2FA.")
    session_verified = serializers.BooleanField(help_text="This session passed the second factor.")


class EnrolmentSerializer(serializers.Serializer):
    otpauth_uri = serializers.CharField()
    secret = serializers.CharField(help_text="Base32 secret for manual entry.")
    qr_svg = serializers.CharField(help_text="The otpauth URI as an SVG QR code.")


class BackupCodesSerializer(serializers.Serializer):
    backup_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Single-use; shown only in this response."
    )


class _TwoFactorView(UnscopedAPIView):
    unscoped_reason = "the caller's own two-factor devices"
    mfa_exempt = True
    api_key_forbidden = True


class TwoFactorStatusView(_TwoFactorView):
    mfa_verification_exempt = True

    @extend_schema(responses=TwoFactorStatusSerializer)
    def get(self, request):
        data = selectors.two_factor_status(request.user)
        data["session_verified"] = selectors.session_passed_mfa(request.user, request_session(request))
        return Response(TwoFactorStatusSerializer(data).data)


class _BodyOnDeleteSchema(AutoSchema):
    """Document the JSON body DELETE takes here (the code proving possession)."""

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class TOTPView(_TwoFactorView):
    """Enrol (POST) or remove (DELETE, with a TOTP or backup code) the authenticator app."""

    schema = _BodyOnDeleteSchema()

    @extend_schema(
        request=None,
        responses={201: EnrolmentSerializer, 401: OpenApiResponse(description="reauthentication_required")},
    )
    def post(self, request):
        if not selectors.recently_authenticated(request.user, request_session(request)):
            client = "app" if isinstance(request.auth, SessionBase) else "browser"
            raise NotAuthenticated(REAUTH_MESSAGE.format(client=client), code="reauthentication_required")
        enrolment = twofactor.begin_totp_enrolment(user=request.user)
        body = EnrolmentSerializer(
            {"otpauth_uri": enrolment.otpauth_uri, "secret": enrolment.secret, "qr_svg": enrolment.qr_svg}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=CodeSerializer, responses={204: OpenApiResponse(description="2FA disabled.")})
    def delete(self, request):
        serializer = CodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        twofactor.disable_two_factor(
            user=request.user, code=serializer.validated_data["code"], request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TOTPConfirmView(_TwoFactorView):
    @extend_schema(request=CodeSerializer, responses=BackupCodesSerializer)
    def post(self, request):
        serializer = CodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = twofactor.confirm_totp(
            user=request.user,
            code=serializer.validated_data["code"],
            request=request,
            session=request_session(request),
        )
        return Response(BackupCodesSerializer({"backup_codes": codes}).data)


class BackupCodesView(_TwoFactorView):
    @extend_schema(request=CodeSerializer, responses=BackupCodesSerializer)
    def post(self, request):
        serializer = CodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = twofactor.regenerate_backup_codes(
            user=request.user, code=serializer.validated_data["code"], request=request
        )
        return Response(BackupCodesSerializer({"backup_codes": codes}).data)


class TwoFactorVerifyView(_TwoFactorView):
    """A session signed in before 2FA was enabled (elsewhere) passes the second factor here."""

    mfa_verification_exempt = True

    @extend_schema(
        request=CodeSerializer,
        responses=inline_serializer("TwoFactorVerified", {"session_verified": serializers.BooleanField()}),
    )
    def post(self, request):
        serializer = CodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        twofactor.verify_session(
            request=request,
            session=request_session(request),
            user=request.user,
            code=serializer.validated_data["code"],
        )
        return Response({"session_verified": True})
