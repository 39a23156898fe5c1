"""The one representation of an inbox item: REST responses and ``inbox.item`` socket events."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from apps.accounts.models import User

from .models import InboxItem


class InboxActorSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "handle", "display_name", "avatar", "is_ai")
        read_only_fields = fields


class InboxItemSerializer(serializers.ModelSerializer):
    actor = InboxActorSerializer(read_only=True, allow_null=True)
    is_read = serializers.SerializerMethodField()
    is_archived = serializers.SerializerMethodField()

    class Meta:
        model = InboxItem
        fields = (
            "id",
            "kind",
            "actor",
            "actor_count",
            "actor_ids",
            "target_type",
            "target_id",
            "title",
            "body",
            "target_url",
            "data",
            "is_read",
            "read_at",
            "is_archived",
            "archived_at",
            "snoozed_until",
            "requires_action",
            "action_state",
            "last_event_at",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_read(self, obj: InboxItem) -> bool:
        return obj.read_at is not None

    @extend_schema_field(serializers.BooleanField())
    def get_is_archived(self, obj: InboxItem) -> bool:
        return obj.archived_at is not None


def item_payload(item: InboxItem) -> dict[str, Any]:
    """JSON-ready (UUIDs and datetimes as strings), as the REST API shows it."""
    return json.loads(JSONRenderer().render(InboxItemSerializer(item).data))


def inbox_event(item: InboxItem, *, unread_count: int) -> dict[str, Any]:
    return {"type": "inbox.item", "item": item_payload(item), "unread_count": unread_count}


def unread_event(*, unread_count: int) -> dict[str, Any]:
    return {"type": "inbox.unread_count", "unread_count": unread_count}
