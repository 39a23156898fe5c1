"""``/api/v1/conversations/``, ``/conversation-members/``, ``/messages/``.

Only active members see a conversation and what is under it: anything else
(another network's, or one you are not in) is a 404. Writes call
``apps.chat.services``; the socket calls the same functions.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import User
from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet
from apps.core.exceptions import ValidationFailed
from apps.core.pagination import CursorPagination
from apps.projects.models import Project
from apps.social.models import Community

from . import selectors, services
from .media import MAX_MEDIA, media_by_message
from .models import Conversation, ConversationMember, MemberRole, Message, NotifyLevel
from .payloads import member_payload, message_payload, message_payloads, reaction_summaries

UUID_RE = r"[0-9a-fA-F-]{36}"
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a44-3f7e-4f9a-9d0e-2a6f8c1b7c10")


# --- serializers (the schema of the payloads in apps.chat.payloads) ----------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    handle = serializers.CharField()
    display_name = serializers.CharField()
    is_ai = serializers.BooleanField()
    avatar_url = serializers.CharField(allow_null=True)


class ReactionSummarySerializer(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    user_ids = serializers.ListField(child=serializers.UUIDField(), help_text="Up to 25 reacting users.")


class MediaSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    url = serializers.CharField()
    mime = serializers.CharField()
    size_bytes = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    alt_text = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    conversation_id = serializers.UUIDField()
    seq = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    sender = UserRefSerializer(allow_null=True)
    body = serializers.CharField()
    body_html = serializers.CharField()
    reply_to_id = serializers.UUIDField(allow_null=True)
    thread_root_id = serializers.UUIDField(allow_null=True)
    reply_count = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)
    client_id = serializers.UUIDField(allow_null=True)
    mentioned_user_ids = serializers.ListField(child=serializers.UUIDField())
    edit_count = serializers.IntegerField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    reactions = ReactionSummarySerializer(many=True)
    media = MediaSerializer(many=True)


class EditSerializer(serializers.Serializer):
    body = serializers.CharField()
    edited_at = serializers.DateTimeField(help_text="When this body was written (or last edited).")


class MessageDetailSerializer(MessageSerializer):
    edit_history = EditSerializer(many=True, help_text="Previous bodies, oldest first (at most 20).")


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField(help_text="More messages exist in the paging direction.")
    last_message_seq = serializers.IntegerField()


class SearchResultsSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)


class ConversationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Conversation.Kind.choices)
    title = serializers.CharField(allow_null=True)
    topic = serializers.CharField(allow_null=True)
    project_id = serializers.UUIDField(allow_null=True)
    community_id = serializers.UUIDField(allow_null=True)
    direct_with = UserRefSerializer(allow_null=True, help_text="The other person of a direct conversation.")
    member_count = serializers.IntegerField()
    last_message_seq = serializers.IntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    last_message = MessageSerializer(allow_null=True)
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()
    my_role = serializers.ChoiceField(choices=MemberRole.choices, allow_null=True)
    notify = serializers.ChoiceField(choices=NotifyLevel.choices, allow_null=True)
    muted_until = serializers.DateTimeField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class MemberSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    conversation_id = serializers.UUIDField()
    user = UserRefSerializer()
    role = serializers.ChoiceField(choices=MemberRole.choices)
    notify = serializers.ChoiceField(choices=NotifyLevel.choices)
    muted_until = serializers.DateTimeField(allow_null=True)
    joined_at = serializers.DateTimeField()
    left_at = serializers.DateTimeField(allow_null=True)
    added_by_id = serializers.UUIDField(allow_null=True)


def _users() -> QuerySet[User]:
    return User.objects.filter(is_active=True)


class ConversationCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Conversation.Kind.choices)
    user_id = NetworkScopedRelatedField(
        queryset=_users(), required=False, help_text="direct: the other person."
    )
    member_ids = serializers.ListField(
        child=NetworkScopedRelatedField(queryset=_users()),
        required=False,
        max_length=1000,
        help_text="group: the first members (you are the owner).",
    )
    project = NetworkScopedRelatedField(
        queryset=Project.objects.all(), required=False, help_text="channel: the project it belongs to …"
    )
    community = NetworkScopedRelatedField(
        queryset=Community.objects.all(), required=False, help_text="… or the community."
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["kind"]
        if kind == Conversation.Kind.DIRECT and "user_id" not in attrs:
            raise serializers.ValidationError({"user_id": ["A direct conversation needs user_id."]})
        if kind == Conversation.Kind.CHANNEL and ("project" in attrs) == ("community" in attrs):
            raise serializers.ValidationError({"project": ["A channel needs its project or its community."]})
        return attrs


class ConversationUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True, allow_null=True)


class SeqSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=2**62)


class CursorSerializer(serializers.Serializer):
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()


class AddMembersSerializer(serializers.Serializer):
    user_ids = serializers.ListField(
        child=NetworkScopedRelatedField(queryset=_users()), min_length=1, max_length=500
    )


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=[MemberRole.MEMBER, MemberRole.ADMIN], required=False)
    notify = serializers.ChoiceField(choices=NotifyLevel.choices, required=False)
    muted_until = serializers.DateTimeField(required=False, allow_null=True)


class SendSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=100_000)
    client_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="Your id for this message: a retry returns the stored one."
    )
    reply_to = NetworkScopedRelatedField(queryset=Message.objects.all(), required=False, allow_null=True)
    media = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=MAX_MEDIA,
        help_text="Ready uploads to attach.",
    )


class EditBodySerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, max_length=100_000)


class ReactionSerializer(serializers.Serializer):
    emoji = serializers.CharField(max_length=200)


class ReactionResultSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    emoji = serializers.CharField()
    reactions = ReactionSummarySerializer(many=True)


# --- views ---------------------------------------------------------------------------------


class ConversationPagination(CursorPagination):
    ordering = ("-last_message_at", "-id")


class MemberPagination(CursorPagination):
    ordering = ("joined_at", "id")


_WINDOW_PARAMS = [
    OpenApiParameter("before_seq", OpenApiTypes.INT, description="History: messages before this seq"),
    OpenApiParameter("after_seq", OpenApiTypes.INT, description="Catch-up: messages after this seq"),
    OpenApiParameter("limit", OpenApiTypes.INT, description="1–200 (default 50)"),
]


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer.", field=name) from None
    if value < 0 or value > 2**62:
        raise ValidationFailed(f"{name} is out of range.", field=name)
    return value


def _message_window(request: Request, conversation: Conversation, *, thread_root: Any = None) -> Response:
    messages, more = selectors.conversation_messages(
        conversation_id=conversation.pk,
        before_seq=_int_param(request, "before_seq"),
        after_seq=_int_param(request, "after_seq"),
        thread_root=thread_root,
        limit=selectors.clamp_limit(request.query_params.get("limit")),
    )
    return Response(
        {
            "results": message_payloads(messages),
            "has_more": more,
            "last_message_seq": conversation.last_message_seq,
        }
    )


@extend_schema(tags=["chat"])
class ConversationViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Your conversations, newest activity first, each with its last message and unread count."""

    queryset = Conversation.objects.all()
    serializer_class = ConversationSerializer
    lookup_value_regex = UUID_RE
    pagination_class = ConversationPagination
    scope_resource = "chat"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
        return selectors.user_conversations(qs, user=self.request.user)

    def _one(self, conversation: Conversation, *, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=conversation.pk)
        return Response(selectors.conversation_page_payloads([fresh], user=self.request.user)[0], status=code)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            selectors.conversation_page_payloads(list(page), user=request.user)
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.get_object()
        return Response(selectors.conversation_page_payloads([conversation], user=request.user)[0])

    @extend_schema(
        request=ConversationCreateSerializer,
        responses={201: ConversationSerializer, 200: ConversationSerializer},
        description="direct: `{kind: direct, user_id}` (get-or-create: 200 when it exists); "
        "group: `{kind: group, title, member_ids}`; channel: `{kind: channel, project | community, title}`.",
    )
    def create(self, request: Request) -> Response:
        serializer = ConversationCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kind = data["kind"]
        if kind == Conversation.Kind.DIRECT:
            conversation, created = services.get_or_create_direct(actor=request.user, other=data["user_id"])
            return self._one(conversation, code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        if kind == Conversation.Kind.GROUP:
            conversation = services.create_group(
                actor=request.user,
                title=data.get("title") or "",
                topic=data.get("topic"),
                members=data.get("member_ids") or [],
            )
        elif "project" in data:
            conversation = services.create_channel(
                actor=request.user,
                project=data["project"],
                title=data.get("title") or "",
                topic=data.get("topic"),
            )
        else:
            conversation = services.create_community_channel(
                actor=request.user,
                community=data["community"],
                title=data.get("title") or "",
                topic=data.get("topic"),
            )
        return self._one(conversation, code=status.HTTP_201_CREATED)

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        serializer = ConversationUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.update_conversation(
            actor=request.user, conversation=conversation, **serializer.validated_data
        )
        return self._one(conversation)

    def _cursor(self, conversation: Conversation, value: int) -> Response:
        unread = max(0, Conversation.objects.get(pk=conversation.pk).last_message_seq - value)
        return Response({"last_read_seq": value, "unread_count": unread})

    @extend_schema(request=SeqSerializer, responses=CursorSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        """Mark read up to ``seq`` (the cursor only moves forward, and never past the last message)."""
        conversation = self.get_object()
        serializer = SeqSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        value = services.mark_read(
            actor=request.user, conversation=conversation, seq=serializer.validated_data["seq"]
        )
        return self._cursor(conversation, value)

    @extend_schema(request=SeqSerializer, responses=CursorSerializer)
    @action(detail=True, methods=["post"])
    def unread(self, request: Request, pk: str | None = None) -> Response:
        """Mark unread from ``seq``: the cursor moves back to just before it."""
        conversation = self.get_object()
        serializer = SeqSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        value = services.mark_unread(
            actor=request.user, conversation=conversation, seq=serializer.validated_data["seq"]
        )
        return self._cursor(conversation, value)

    @extend_schema(methods=["get"], responses=MemberSerializer(many=True))
    @extend_schema(
        methods=["post"], request=AddMembersSerializer, responses={201: MemberSerializer(many=True)}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=MemberPagination)
    def members(self, request: Request, pk: str | None = None) -> Response:
        """Active members (GET); add members to a group (POST, conversation admins, ≤ 500)."""
        conversation = self.get_object()
        if request.method == "POST":
            serializer = AddMembersSerializer(data=request.data, context=self.get_serializer_context())
            serializer.is_valid(raise_exception=True)
            rows = services.add_members(
                actor=request.user, conversation=conversation, users=serializer.validated_data["user_ids"]
            )
            return Response([member_payload(m) for m in rows], status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.active_members(conversation_id=conversation.pk))
        return self.get_paginated_response([member_payload(m) for m in page])

    @extend_schema(methods=["get"], parameters=_WINDOW_PARAMS, responses=MessagePageSerializer)
    @extend_schema(
        methods=["post"],
        request=SendSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                description="Stands for client_id when the body has none.",
            )
        ],
    )
    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        """Messages by seq (GET: latest, ``before_seq`` for history, ``after_seq`` to catch up); send (POST):
        201 new, 200 for a repeated ``client_id``; 429 with Retry-After past the send rate."""
        conversation = self.get_object()
        if request.method == "GET":
            return _message_window(request, conversation)
        serializer = SendSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client_id = data.get("client_id")
        key = request.headers.get("Idempotency-Key")
        if client_id is None and key:
            client_id = uuid.uuid5(IDEMPOTENCY_NAMESPACE, key[:200])
        message = services.send_message(
            actor=request.user,
            conversation=conversation,
            body=data["body"],
            client_id=client_id,
            reply_to=data.get("reply_to"),
            media=data.get("media") or None,
        )
        if message.created_now:  # the payload its broadcast carried
            return Response(message.payload, status=status.HTTP_201_CREATED)
        return Response(message_payloads([message])[0], status=status.HTTP_200_OK)


@extend_schema(tags=["chat"])
class ConversationMemberViewSet(NetworkScopedViewSet):
    """Change a membership (your notifications; roles by admins) or end it (leave / remove)."""

    queryset = ConversationMember.objects.all()
    serializer_class = MemberSerializer
    lookup_value_regex = UUID_RE
    scope_resource = "chat"
    http_method_names = ["patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[ConversationMember]) -> QuerySet[ConversationMember]:
        mine = ConversationMember.objects.filter(
            conversation=OuterRef("conversation"), user_id=self.request.user.pk, left_at__isnull=True
        )
        return qs.filter(Exists(mine), left_at__isnull=True).select_related("conversation", "user")

    @extend_schema(request=MemberUpdateSerializer, responses=MemberSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        member = self.get_object()
        serializer = MemberUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        kwargs: dict[str, Any] = {"role": data.get("role"), "notify": data.get("notify")}
        if "muted_until" in data:
            kwargs["muted_until"] = data["muted_until"]
        member = services.update_member(actor=request.user, member=member, **kwargs)
        return Response(member_payload(member))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.remove_member(actor=request.user, member=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["chat"])
class MessageViewSet(NetworkScopedViewSet):
    """A message of a conversation you are in: read (with edit history), edit, delete, react, thread."""

    queryset = Message.objects.all()
    serializer_class = MessageDetailSerializer
    lookup_value_regex = UUID_RE
    scope_resource = "chat"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Message]) -> QuerySet[Message]:
        return selectors.visible_messages(qs, user=self.request.user)

    def _detail(self, message: Message) -> Response:
        reactions = reaction_summaries([message.pk]).get(message.pk)
        media = media_by_message([message.pk]).get(message.pk)
        return Response(message_payload(message, reactions=reactions, media=media, with_history=True))

    @extend_schema(responses=MessageDetailSerializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(self.get_object())

    @extend_schema(request=EditBodySerializer, responses=MessageDetailSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        message = self.get_object()
        serializer = EditBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._detail(
            services.edit_message(actor=request.user, message=message, body=serializer.validated_data["body"])
        )

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.delete_message(actor=request.user, message=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=_WINDOW_PARAMS, responses=MessagePageSerializer)
    @action(detail=True, methods=["get"])
    def thread(self, request: Request, pk: str | None = None) -> Response:
        """The thread this message belongs to: its root and the replies, by seq."""
        message = self.get_object()
        return _message_window(
            request, message.conversation, thread_root=message.thread_root_id or message.pk
        )

    def _reactions(self, message: Message, emoji: str, *, code: int) -> Response:
        summary = reaction_summaries([message.pk]).get(message.pk, [])
        return Response({"message_id": str(message.pk), "emoji": emoji, "reactions": summary}, status=code)

    @extend_schema(
        request=ReactionSerializer, responses={201: ReactionResultSerializer, 200: ReactionResultSerializer}
    )
    @action(detail=True, methods=["post"])
    def reactions(self, request: Request, pk: str | None = None) -> Response:
        """React (201; 200 when you already had); ≤ 20 distinct emoji per message (409 beyond)."""
        message = self.get_object()
        serializer = ReactionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        emoji = services.clean_emoji(serializer.validated_data["emoji"])
        created = services.add_reaction(actor=request.user, message=message, emoji=emoji)
        return self._reactions(
            message, emoji, code=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"reactions/(?P<emoji>[^/]+)", url_name="reaction")
    def remove_reaction(self, request: Request, pk: str | None = None, emoji: str = "") -> Response:
        """Remove your reaction (204 whether or not you had it)."""
        services.remove_reaction(actor=request.user, message=self.get_object(), emoji=emoji)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="Web search syntax"),
            OpenApiParameter("conversation", OpenApiTypes.UUID),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–200 (default 50)"),
        ],
        responses=SearchResultsSerializer,
    )
    @action(detail=False, methods=["get"])
    def search(self, request: Request) -> Response:
        """Full-text search over the messages of your conversations, best match first."""
        query = (request.query_params.get("q") or "").strip()[:200]
        if not query:
            raise ValidationFailed("Say what to search for.", field="q")
        conversation_id = request.query_params.get("conversation") or None
        if conversation_id is not None:
            try:
                conversation_id = uuid.UUID(conversation_id)
            except ValueError:
                raise ValidationFailed("conversation must be a UUID.", field="conversation") from None
        messages = selectors.search_messages(
            qs=self.get_queryset(),
            user=request.user,
            query=query,
            conversation_id=conversation_id,
            limit=selectors.clamp_limit(request.query_params.get("limit")),
        )
        return Response({"results": message_payloads(messages)})
