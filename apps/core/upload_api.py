"""``/api/v1/uploads/``: C (multipart file, or JSON for a two-step upload), R, +complete.

The rules live in ``apps.core.uploads``; this is the thin HTTP layer.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from . import uploads
from .api import NetworkScopedViewSet
from .exceptions import ValidationFailed
from .models import Upload, UploadKind
from .parsers import SafeJSONParser


class UploadSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    presigned_post = serializers.SerializerMethodField(
        help_text="Where to POST the bytes (S3 storage, pending uploads); null otherwise."
    )

    class Meta:
        model = Upload
        fields = (
            "id",
            "kind",
            "status",
            "filename",
            "mime",
            "size_bytes",
            "width",
            "height",
            "duration_ms",
            "reject_reason",
            "expires_at",
            "consumed_at",
            "url",
            "presigned_post",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, obj: Upload) -> str | None:
        return uploads.upload_url(obj)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_presigned_post(self, obj: Upload) -> dict[str, Any] | None:
        return uploads.presigned_post(obj)


class UploadStartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=UploadKind.choices)
    mime = serializers.CharField(max_length=100)
    size_bytes = serializers.IntegerField(min_value=1)
    filename = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class UploadFileSerializer(serializers.Serializer):
    file = serializers.FileField()
    kind = serializers.ChoiceField(choices=UploadKind.choices, required=False)


class UploadCompleteSerializer(serializers.Serializer):
    file = serializers.FileField(required=False)


def _too_big(request: Request) -> None:
    """Refuse a body larger than the largest kind before parsing it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max(settings.UPLOAD_MAX_BYTES.values()) + 64 * 1024:
        raise ValidationFailed("The upload is larger than any allowed kind.", field="file", code="too_large")


@extend_schema(tags=["uploads"])
class UploadViewSet(NetworkScopedViewSet, mixins.RetrieveModelMixin):
    """Your uploads: send a file (multipart ``file``), or start a two-step upload (JSON)
    and finish it with ``complete``."""

    queryset = Upload.objects.all()
    serializer_class = UploadSerializer
    parser_classes = (SafeJSONParser, MultiPartParser, FormParser)
    scope_resource = "posts"
    http_method_names = ["get", "post", "head", "options"]

    def scope_queryset(self, qs: Any) -> Any:
        return qs.filter(uploader=self.request.user)

    @extend_schema(
        request={
            "multipart/form-data": UploadFileSerializer,
            "application/json": UploadStartSerializer,
        },
        responses={201: UploadSerializer, 400: OpenApiResponse(description="Refused file")},
    )
    def create(self, request: Request) -> Response:
        _too_big(request)
        if request.content_type.startswith("multipart/"):
            serializer = UploadFileSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            upload = uploads.ingest_upload(
                actor=request.user, fileobj=data["file"], filename=data["file"].name, kind=data.get("kind")
            )
        else:
            serializer = UploadStartSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            upload = uploads.start_upload(actor=request.user, **serializer.validated_data)
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": UploadCompleteSerializer, "application/json": None},
        responses={200: UploadSerializer, 400: OpenApiResponse(description="Refused file")},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        _too_big(request)
        upload = self.get_object()
        serializer = UploadCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = uploads.complete_upload(
            actor=request.user, upload=upload, fileobj=serializer.validated_data.get("file")
        )
        data = UploadSerializer(upload).data
        if upload.status == Upload.Status.REJECTED:
            return Response(
                {"file": [upload.reject_reason], "code": "upload_rejected", "upload": data},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(data)


__all__ = ["UploadViewSet"]
