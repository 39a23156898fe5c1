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

    def to_representation(self, instance: InboxItem) -> dict[str, Any]:
        # read-only: the fields above document the shape (OpenAPI); item_payload renders it without
        # the per-field machinery (a page of 50 items spent ~15 ms in it)
        return item_payload(instance)


def item_payload_slow(item: InboxItem) -> dict[str, Any]:
    """The serializer's field-by-field rendering (the reference ``item_payload`` is tested against)."""
    serializer = InboxItemSerializer(item)
    data = serializers.ModelSerializer.to_representation(serializer, item)
    return json.loads(JSONRenderer().render(data))


_DATETIME = serializers.DateTimeField()


def _dt(value: Any) -> str | None:
    return _DATETIME.to_representation(value) if value is not None else None


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def item_payload(item: InboxItem) -> dict[str, Any]:
    """JSON-ready (UUIDs and datetimes as strings), exactly as ``InboxItemSerializer`` renders it
    (tests/inbox/test_delivery.py checks the two agree) without the serializer machinery: a
    fan-out renders one per online recipient."""
    actor = item.actor if item.actor_id is not None else None
    return {
        "id": str(item.pk),
        "kind": item.kind,
        "actor": None
        if actor is None
        else {
            "id": str(actor.pk),
            "handle": actor.handle,
            "display_name": actor.display_name,
            "avatar": actor.avatar.url if actor.avatar else None,
            "is_ai": actor.is_ai,
        },
        "actor_count": item.actor_count,
        "actor_ids": [str(a) for a in item.actor_ids or []],
        "target_type": item.target_type,
        "target_id": _str(item.target_id),
        "title": item.title,
        "body": item.body,
        "target_url": item.target_url,
        "data": item.data,
        "is_read": item.read_at is not None,
        "read_at": _dt(item.read_at),
        "is_archived": item.archived_at is not None,
        "archived_at": _dt(item.archived_at),
        "snoozed_until": _dt(item.snoozed_until),
        "requires_action": item.requires_action,
        "action_state": item.action_state,
        "last_event_at": _dt(item.last_event_at),
        "created_at": _dt(item.created_at),
    }


def inbox_event(item: InboxItem, *, unread_count: int) -> dict[str, Any]:
    return {"type": "inbox.item", "item": item_payload(item), "unread_count": unread_count}


def unread_event(*, unread_count: int) -> dict[str, Any]:
    return {"type": "inbox.unread_count", "unread_count": unread_count}
