"""``/api/v1/inbox-items/``: the caller's inbox (list with filters, read/unread/archive/unarchive/snooze,
unread count, mark all read). Another user's item is a 404 like a missing one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet
from apps.core.exceptions import ValidationFailed
from apps.core.pagination import CursorPagination

from . import selectors, services
from .models import InboxItem, InboxKind
from .payloads import InboxItemSerializer


class InboxPagination(CursorPagination):
    ordering = ("-last_event_at", "-id")


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(help_text="When the item comes back (at most a year ahead).")


class MarkAllReadSerializer(serializers.Serializer):
    before = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Only items whose last event is at or before this time (send the same value on repeats).",
    )
    kind = serializers.ChoiceField(choices=InboxKind.choices, required=False, allow_null=True)


class MarkAllReadResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
    complete = serializers.BooleanField(help_text="False while unread items remain: call again.")


class UnreadCountSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField()


@extend_schema(tags=["inbox"])
class InboxItemViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Your inbox: mentions, replies, reactions, invites, approvals… one item per thing, repeats aggregated."""

    queryset = InboxItem.objects.all()
    serializer_class = InboxItemSerializer
    pagination_class = InboxPagination
    scope_resource = "inbox"
    http_method_names = ["get", "post", "head", "options"]

    def scope_queryset(self, qs: QuerySet[InboxItem]) -> QuerySet[InboxItem]:
        if self.action != "list":
            return qs.filter(recipient_id=self.request.user.pk).select_related("actor")
        params = self.request.query_params
        name = params.get("filter") or "all"
        if name not in selectors.FILTERS:
            raise ValidationFailed(
                f"Use one of: {', '.join(selectors.FILTERS)}.", field="filter", code="invalid_choice"
            )
        kind = params.get("kind") or None
        if kind is not None and kind not in InboxKind.values:
            raise ValidationFailed("Unknown kind.", field="kind", code="invalid_choice")
        return selectors.inbox_items(qs, user=self.request.user, filter=name, kind=kind)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "filter",
                OpenApiTypes.STR,
                enum=list(selectors.FILTERS),
                description="all (default: not archived, not snoozed), unread, archived, action (open action items)",
            ),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=InboxKind.values, description="Only this kind"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _respond(self, item: InboxItem) -> Response:
        item = self.get_queryset().get(pk=item.pk)
        return Response(InboxItemSerializer(item, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(services.mark_read(actor=request.user, item=self.get_object()))

    @extend_schema(request=None, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def unread(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(services.mark_unread(actor=request.user, item=self.get_object()))

    @extend_schema(request=None, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(services.archive(actor=request.user, item=self.get_object()))

    @extend_schema(request=None, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def unarchive(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(services.unarchive(actor=request.user, item=self.get_object()))

    @extend_schema(request=SnoozeSerializer, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def snooze(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        body = SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(
            services.snooze(actor=request.user, item=item, until=body.validated_data["until"])
        )

    @extend_schema(responses=UnreadCountSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request: Request) -> Response:
        return Response({"unread_count": selectors.unread_count(user_id=request.user.pk)})

    @extend_schema(request=MarkAllReadSerializer, responses=MarkAllReadResultSerializer)
    @action(detail=False, methods=["post"], url_path="mark-all-read")
    def mark_all_read(self, request: Request) -> Response:
        body = MarkAllReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.mark_all_read(
            actor=request.user, before=body.validated_data.get("before"), kind=body.validated_data.get("kind")
        )
        return Response(result)
