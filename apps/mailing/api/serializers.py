from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import FastReadMixin

from ..models import (
    BounceType,
    CampaignKind,
    CampaignStatus,
    EmailCampaign,
    EmailSend,
    EmailSuppression,
    SendStatus,
    SuppressionReason,
    SuppressionScope,
)


class CampaignSerializer(FastReadMixin, serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=CampaignStatus.choices, read_only=True)
    kind = serializers.ChoiceField(choices=CampaignKind.choices, read_only=True)
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = EmailCampaign
        fields = (
            "id",
            "name",
            "kind",
            "subject",
            "preheader",
            "from_name",
            "from_email",
            "reply_to_email",
            "html_body",
            "text_body",
            "audience",
            "status",
            "paused_reason",
            "scheduled_at",
            "started_at",
            "finished_at",
            "ses_configuration_set",
            "rate_per_second",
            "batch_size",
            "max_error_ratio",
            "audience_frozen_at",
            "recipient_count",
            "sent_count",
            "delivered_count",
            "bounced_count",
            "complained_count",
            "opened_count",
            "clicked_count",
            "unsubscribed_count",
            "suppressed_count",
            "failed_count",
            "progress_percent",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CampaignWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=CampaignKind.choices, required=False)
    subject = serializers.CharField(max_length=200)
    preheader = serializers.CharField(max_length=200, required=False, allow_blank=True)
    from_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    from_email = serializers.EmailField(max_length=254)
    reply_to_email = serializers.EmailField(max_length=254, required=False, allow_null=True)
    html_body = serializers.CharField(
        max_length=500_000, required=False, allow_blank=True, trim_whitespace=False
    )
    text_body = serializers.CharField(
        max_length=200_000, required=False, allow_blank=True, trim_whitespace=False
    )
    audience = serializers.JSONField(
        required=False,
        help_text=(
            '{"source": "users"|"waitlist", "roles": [...], "joined_after": iso, "active_within_days": n, '
            '"organization": uuid, "community": uuid, "waitlist_status": [...]}'
        ),
    )
    ses_configuration_set = serializers.CharField(
        max_length=200, required=False, allow_null=True, allow_blank=True
    )
    rate_per_second = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=5000, required=False)
    max_error_ratio = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=0, max_value=1, required=False
    )


class ScheduleSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField()


class TestSendSerializer(serializers.Serializer):
    emails = serializers.ListField(child=serializers.EmailField(), min_length=1, max_length=5, required=False)


class TestSendResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField()


class AudiencePreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    suppressed = serializers.IntegerField()
    sample = serializers.ListField(child=serializers.EmailField())


class SendSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=SendStatus.choices, read_only=True)
    bounce_type = serializers.ChoiceField(choices=BounceType.choices, read_only=True, allow_null=True)

    class Meta:
        model = EmailSend
        fields = (
            "id",
            "campaign",
            "user",
            "waitlist_entry",
            "email",
            "status",
            "ses_message_id",
            "attempts",
            "sent_at",
            "delivered_at",
            "opened_at",
            "clicked_at",
            "bounced_at",
            "complained_at",
            "bounce_type",
            "bounce_subtype",
            "error",
            "created_at",
        )
        read_only_fields = fields


class SuppressionSerializer(FastReadMixin, serializers.ModelSerializer):
    scope = serializers.ChoiceField(choices=SuppressionScope.choices, read_only=True)
    reason = serializers.ChoiceField(choices=SuppressionReason.choices, read_only=True)

    class Meta:
        model = EmailSuppression
        fields = (
            "id",
            "email",
            "scope",
            "reason",
            "source_send",
            "details",
            "expires_at",
            "created_by",
            "created_at",
        )
        read_only_fields = fields


class SuppressionCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    scope = serializers.ChoiceField(choices=SuppressionScope.choices, default=SuppressionScope.CAMPAIGNS)


class UnsubscribeResultSerializer(serializers.Serializer):
    status = serializers.CharField()
