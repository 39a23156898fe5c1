from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.services import device_label
from apps.core.serializers import FastReadMixin

from .. import selectors, validators
from ..models import AccountDeletionRequest, DataExport, LoginHistory, PendingEmailChange, UserSettings
from ..services.account_settings import SETTINGS_FIELDS
from .schema import NamedChoiceField


class StrictFieldsMixin:
    """Unknown or read-only keys in the body are a 400 naming them, not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}  # type: ignore[attr-defined]
            errors = {}
            for name in data:
                if name in writable:
                    continue
                errors[name] = ["This field is read-only." if name in self.fields else "Unknown field."]  # type: ignore[attr-defined]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class UserSettingsSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    # DRF turns the Django ValidationError these validators raise into a field error
    timezone = serializers.CharField(max_length=64, validators=[validators.validate_timezone])
    locale = serializers.ChoiceField(choices=validators.locale_choices())
    notification_choices = serializers.JSONField(
        validators=[validators.validate_notification_choices],
        help_text='{kind: {"push": bool, "email": bool, "in_app": bool}}; omitted channels use defaults.',
    )
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = UserSettings
        fields = (*SETTINGS_FIELDS, "updated_at")
        read_only_fields = ("updated_at",)


class UserPreferencesSerializer(serializers.Serializer):
    data = serializers.DictField(read_only=True, help_text="Client JSON (an object).")
    version = serializers.IntegerField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class UserPreferencesWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    data = serializers.JSONField(
        help_text="PUT: the whole object. PATCH: an RFC 7386 merge patch (null removes a key)."
    )
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The version you read; a stale one is refused with 409 stale_version.",
    )

    def validate_data(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class LoginHistorySerializer(FastReadMixin, serializers.ModelSerializer):
    event = NamedChoiceField(enum_name="LoginEventEnum", choices=LoginHistory.Event.choices, read_only=True)
    method = NamedChoiceField(
        enum_name="LoginMethodEnum", choices=LoginHistory.Method.choices, read_only=True, allow_null=True
    )
    device_label = serializers.SerializerMethodField()

    class Meta:
        model = LoginHistory
        fields = (
            "id",
            "created_at",
            "event",
            "method",
            "provider",
            "ip",
            "user_agent",
            "device_label",
            "country",
            "is_new_device",
        )
        read_only_fields = fields

    def get_device_label(self, obj: LoginHistory) -> str:
        return device_label(obj.user_agent)


class EmailChangeRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    new_email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096)


class EmailChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PendingEmailChange
        fields = ("id", "new_email", "expires_at", "created_at")
        read_only_fields = fields


class EmailChangeConfirmSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=200, trim_whitespace=True)


class EmailChangeConfirmedSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True)


class DeletionRequestCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096)
    code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="TOTP or backup code; required when two-factor authentication is on.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class DeletionRequestSerializer(serializers.ModelSerializer):
    status = NamedChoiceField(
        enum_name="AccountDeletionStatusEnum", choices=AccountDeletionRequest.Status.choices, read_only=True
    )

    class Meta:
        model = AccountDeletionRequest
        fields = ("id", "status", "reason", "scheduled_at", "created_at", "cancelled_at", "completed_at")
        read_only_fields = fields


class DataExportCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """No options yet: the export covers everything; any key is refused."""


class DataExportSerializer(FastReadMixin, serializers.ModelSerializer):
    status = NamedChoiceField(
        enum_name="DataExportStatusEnum", choices=DataExport.Status.choices, read_only=True
    )
    download_url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = DataExport
        fields = ("id", "status", "progress", "created_at", "expires_at", "download_url", "error")
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, obj: DataExport) -> str | None:
        return selectors.export_download_url(obj, request=self.context.get("request"))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, obj: DataExport) -> str | None:
        # the stored error is for staff; the user gets a fixed sentence
        return "The export could not be built; request a new one." if obj.status == "failed" else None
