"""The caller's own account settings, security history and lifecycle (``/api/v1/account/…``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import request_session_key
from apps.core.api import ListModelMixin, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import DomainError, NotFound

from .. import selectors, services
from ..models import AccountDeletionRequest, DataExport, LoginHistory
from . import serializers as s


class ExportGone(DomainError):
    status_code = status.HTTP_410_GONE
    default_code = "export_expired"
    default_message = "This export has expired; request a new one."


class ZipRenderer(BaseRenderer):
    """Lets ``Accept: application/zip`` reach the download view (errors still render as JSON)."""

    media_type = "application/zip"
    format = "zip"
    charset = None

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None) -> bytes:
        return JSONRenderer().render(data) if not isinstance(data, bytes) else data


_404 = OpenApiResponse(description="Nothing pending / not found")


class SettingsView(UnscopedAPIView):
    """The caller's settings (defaults until the first change)."""

    unscoped_reason = "the caller's own settings row (1:1 with the user)"
    scope_resource = "profile"

    @extend_schema(responses=s.UserSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.UserSettingsSerializer(selectors.user_settings(user=request.user)).data)

    @extend_schema(request=s.UserSettingsSerializer, responses=s.UserSettingsSerializer)
    def patch(self, request: Request) -> Response:
        serializer = s.UserSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = services.update_settings(actor=request.user, **serializer.validated_data)
        return Response(s.UserSettingsSerializer(row).data)


class PreferencesView(UnscopedAPIView):
    """Free-form client preferences with optimistic concurrency (``version``)."""

    unscoped_reason = "the caller's own preferences row (1:1 with the user)"
    scope_resource = "profile"

    @extend_schema(responses=s.UserPreferencesSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.UserPreferencesSerializer(selectors.user_preferences(user=request.user)).data)

    def _write(self, request: Request, *, merge: bool) -> Response:
        serializer = s.UserPreferencesWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = services.write_preferences(
            actor=request.user,
            data=serializer.validated_data["data"],
            expected_version=serializer.validated_data.get("version"),
            merge=merge,
        )
        return Response(s.UserPreferencesSerializer(row).data)

    @extend_schema(
        request=s.UserPreferencesWriteSerializer,
        responses={200: s.UserPreferencesSerializer, 409: OpenApiResponse(description="stale_version")},
    )
    def put(self, request: Request) -> Response:
        return self._write(request, merge=False)

    @extend_schema(
        request=s.UserPreferencesWriteSerializer,
        responses={200: s.UserPreferencesSerializer, 409: OpenApiResponse(description="stale_version")},
    )
    def patch(self, request: Request) -> Response:
        return self._write(request, merge=True)


class LoginHistoryViewSet(NetworkScopedViewSet, ListModelMixin):
    """The caller's sign-in events, newest first."""

    queryset = LoginHistory.objects.all()
    serializer_class = s.LoginHistorySerializer
    scope_resource = "profile"

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return selectors.login_history(qs, user=self.request.user)


class EmailChangeView(UnscopedAPIView):
    """Request (password required), show or cancel a change of the account's email address."""

    unscoped_reason = "the caller's own pending email change"
    api_key_forbidden = True

    @extend_schema(responses={200: s.EmailChangeSerializer, 404: _404})
    def get(self, request: Request) -> Response:
        change = selectors.open_email_change(user=request.user)
        if change is None:
            raise NotFound("There is no pending email change.")
        return Response(s.EmailChangeSerializer(change).data)

    @extend_schema(
        request=s.EmailChangeRequestSerializer,
        responses={201: s.EmailChangeSerializer, 429: OpenApiResponse(description="Too many attempts")},
    )
    def post(self, request: Request) -> Response:
        serializer = s.EmailChangeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = services.request_email_change(actor=request.user, **serializer.validated_data)
        return Response(s.EmailChangeSerializer(change).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None, 404: _404})
    def delete(self, request: Request) -> Response:
        services.cancel_email_change(actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailChangeConfirmView(UnscopedAPIView):
    """Confirm with the token from the link sent to the new address."""

    unscoped_reason = "acts on the caller's own pending email change, found by token"
    api_key_forbidden = True

    @extend_schema(request=s.EmailChangeConfirmSerializer, responses=s.EmailChangeConfirmedSerializer)
    def post(self, request: Request) -> Response:
        serializer = s.EmailChangeConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.confirm_email_change(
            actor=request.user,
            token=serializer.validated_data["token"],
            current_session_key=request_session_key(request),
        )
        return Response({"email": user.email})


class DeletionRequestView(UnscopedAPIView):
    """Schedule (password, + TOTP code when enrolled), show or cancel the account's deletion."""

    unscoped_reason = "the caller's own deletion request"
    api_key_forbidden = True

    @staticmethod
    def _pending(request: Request) -> AccountDeletionRequest:
        deletion = selectors.pending_deletion(user=request.user)
        if deletion is None:
            raise NotFound("No deletion is scheduled.")
        return deletion

    @extend_schema(responses={200: s.DeletionRequestSerializer, 404: _404})
    def get(self, request: Request) -> Response:
        return Response(s.DeletionRequestSerializer(self._pending(request)).data)

    @extend_schema(
        request=s.DeletionRequestCreateSerializer,
        responses={201: s.DeletionRequestSerializer, 409: OpenApiResponse(description="deletion_pending")},
    )
    def post(self, request: Request) -> Response:
        serializer = s.DeletionRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deletion = services.request_account_deletion(
            actor=request.user,
            current_session_key=request_session_key(request),
            **serializer.validated_data,
        )
        return Response(s.DeletionRequestSerializer(deletion).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: s.DeletionRequestSerializer, 404: _404, 409: OpenApiResponse(description="too late")},
    )
    def delete(self, request: Request) -> Response:
        deletion = services.cancel_account_deletion(actor=request.user, deletion=self._pending(request))
        return Response(s.DeletionRequestSerializer(deletion).data)


class DataExportViewSet(
    NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin
):
    """The caller's data exports: request one, follow its progress, download the zip."""

    queryset = DataExport.objects.all()
    serializer_class = s.DataExportSerializer
    api_key_forbidden = True

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return selectors.user_exports(qs, user=self.request.user)

    @extend_schema(
        request=s.DataExportCreateSerializer,
        responses={
            201: s.DataExportSerializer,
            409: OpenApiResponse(description="export_in_progress"),
            429: OpenApiResponse(description="Too many exports today"),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        s.DataExportCreateSerializer(data=request.data).is_valid(raise_exception=True)
        export = services.request_data_export(actor=request.user)
        return Response(self.get_serializer(export).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            404: _404,
            410: OpenApiResponse(description="export_expired"),
        }
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, ZipRenderer])
    def download(self, request: Request, pk: Any = None) -> FileResponse:
        export = self.get_object()
        if export.status not in (DataExport.Status.READY, DataExport.Status.EXPIRED):
            raise NotFound("This export is not ready yet.")
        if not selectors.is_downloadable(export):
            raise ExportGone()
        try:
            fh = export.file.open("rb")
        except FileNotFoundError as exc:  # removed from storage behind our back: same as expired
            raise ExportGone() from exc
        response = FileResponse(
            fh,
            as_attachment=True,
            filename=f"colony-export-{export.created_at:%Y-%m-%d}.zip",
            content_type="application/zip",
        )
        response["Cache-Control"] = "private, no-store"
        return response
