from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.api import NetworkScopedRelatedField
from apps.core.serializers import FastReadMixin

from ..models import InviteCode, InviteCodeKind, InviteWaitlist, InviteWaveConfig, WaitlistStatus, WaveStatus

_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


class WaitlistJoinSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    referral_code = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    website = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Leave empty (a honeypot)."
    )
    utm_source = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def attribution(self) -> dict[str, Any]:
        return {k: self.validated_data[k] for k in _UTM if self.validated_data.get(k)}


class WaitlistJoinedSerializer(serializers.Serializer):
    detail = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class WaitlistStandingSerializer(serializers.Serializer):
    email = serializers.EmailField(source="entry.email")
    status = serializers.ChoiceField(choices=WaitlistStatus.choices, source="entry.status")
    position = serializers.IntegerField(source="entry.position")
    ahead = serializers.IntegerField(help_text="Confirmed people still waiting who go before you.")
    verified_referral_count = serializers.IntegerField(source="entry.verified_referral_count")
    referral_code = serializers.CharField(source="entry.referral_code")
    referral_url = serializers.CharField()
    token = serializers.CharField(
        allow_null=True,
        help_text="Your status token (GET waitlist/me/?token=…); returned once, at confirmation.",
    )


class CodeCheckSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class CodeValidSerializer(serializers.Serializer):
    valid = serializers.BooleanField()


class InviteCodeSerializer(FastReadMixin, serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=InviteCodeKind.choices, read_only=True)
    uses_left = serializers.IntegerField(read_only=True)

    class Meta:
        model = InviteCode
        fields = (
            "id",
            "code",
            "kind",
            "owner",
            "bound_email",
            "wave",
            "max_uses",
            "use_count",
            "uses_left",
            "expires_at",
            "revoked_at",
            "grants",
            "note",
            "created_at",
        )
        read_only_fields = fields


class SendCodeSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class BulkCodesSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=1000)
    kind = serializers.ChoiceField(choices=InviteCodeKind.choices, default=InviteCodeKind.STAFF)
    max_uses = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    grants = serializers.JSONField(
        required=False, help_text='{"organization": uuid, "role": "member", "communities": [uuid, …]}'
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class BulkCodesResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    codes = InviteCodeSerializer(many=True)


class WaveSerializer(FastReadMixin, serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=WaveStatus.choices, read_only=True)

    class Meta:
        model = InviteWaveConfig
        fields = (
            "id",
            "name",
            "wave_number",
            "status",
            "scheduled_at",
            "invite_count",
            "codes_per_user",
            "code_max_uses",
            "code_ttl_days",
            "repeat_every",
            "auto_continue",
            "released_at",
            "released_count",
            "created_by",
            "created_at",
        )
        read_only_fields = fields


class WaveWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    scheduled_at = serializers.DateTimeField()
    invite_count = serializers.IntegerField(min_value=0, max_value=100_000, default=0)
    codes_per_user = serializers.IntegerField(min_value=0, max_value=50, default=0)
    code_max_uses = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    code_ttl_days = serializers.IntegerField(min_value=1, max_value=365, default=14)
    repeat_every = serializers.DurationField(required=False, allow_null=True, default=None)
    auto_continue = serializers.BooleanField(default=False)


class WaitlistEntrySerializer(FastReadMixin, serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=WaitlistStatus.choices, read_only=True)

    class Meta:
        model = InviteWaitlist
        fields = (
            "id",
            "email",
            "name",
            "position",
            "priority_score",
            "status",
            "email_verified_at",
            "invited_at",
            "verified_referral_count",
            "referral_code",
            "referred_by",
            "wave",
            "invite_code",
            "user",
            "source",
            "created_at",
        )
        read_only_fields = fields


class InviteEntriesSerializer(serializers.Serializer):
    entries = NetworkScopedRelatedField(queryset=InviteWaitlist.objects.all(), many=True)
    ttl_days = serializers.IntegerField(min_value=1, max_value=365, default=14)

    def validate_entries(self, value: list[InviteWaitlist]) -> list[InviteWaitlist]:
        if not value or len(value) > 1000:
            raise serializers.ValidationError("Select 1 to 1000 entries.")
        return value


class InvitedCountSerializer(serializers.Serializer):
    invited = serializers.IntegerField()
