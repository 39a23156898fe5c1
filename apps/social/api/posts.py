"""``/feed/``, ``/posts/`` (+ thread, replies, reactions, moderation verbs), ``/tags/``.

Every post list reads through ``apps.social.reads``: one SQL statement per page
(plus, for a community's feed, the community's lookup; for a thread, its root's;
for a tag's, the tag's; and on a cold cache the viewer's graph), rendered
straight to the API's dicts — the SQL count does not grow with ``page_size``.
A single post (read, and the answers of writes) goes through the ORM and
``PostSerializer`` with ``selectors.with_post_relations``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedViewSet
from apps.core.exceptions import NotFound
from apps.core.pagination import KeysetPagination

from .. import reads, selectors, services
from ..models import CommunityMember, MemberRole, MemberStatus, Post, ReactionKind, Tag
from ..permissions import can_view, is_authenticated, is_network_moderator
from . import serializers as s

SORT_PARAMS = [
    OpenApiParameter("sort", OpenApiTypes.STR, enum=list(selectors.SORTS), description="new (default), hot, top"),
    OpenApiParameter("t", OpenApiTypes.STR, enum=list(selectors.TOP_WINDOWS), description="top: day, week, month, all"),
]  # fmt: skip


def _uuid(value: str | None) -> Any:
    if not value:
        return None
    try:
        return serializers.UUIDField().to_internal_value(value)
    except serializers.ValidationError as exc:
        raise NotFound() from exc


def moderation_scope(viewer: Any):
    """A predicate ``post → bool``: may the viewer moderate its community (one query)."""
    if is_network_moderator(viewer):
        return lambda post: True
    if not is_authenticated(viewer):
        return lambda post: False
    ids = set(
        CommunityMember.objects.filter(
            user_id=viewer.pk, status=MemberStatus.ACTIVE, role__in=[MemberRole.MODERATOR, MemberRole.OWNER]
        ).values_list("community_id", flat=True)
    )
    return lambda post: (
        post.community_id in ids or (post.community is not None and post.community.owner_user_id == viewer.pk)
    )


class _PostListBase(NetworkScopedViewSet, ListModelMixin):
    # a post list: keyset pages, posts with their relations, a moderation predicate
    queryset = Post.objects.all()
    serializer_class = s.PostSerializer
    pagination_class = KeysetPagination
    scope_resource = "posts"

    def sort(self) -> tuple[str, str | None]:
        params = self.request.query_params
        return params.get("sort") or "new", params.get("t")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        # lazy: the one query runs only when a page holds a hidden post (most pages hold none)
        context["moderated"] = lambda post: self._moderated(post)
        return context

    @cached_property
    def _moderated(self):
        return moderation_scope(self.request.user)

    def finish(self, qs: QuerySet[Post]) -> QuerySet[Post]:
        return selectors.with_post_relations(qs, viewer=self.request.user)

    def page_size(self) -> int:
        """``KeysetPagination``'s page size (``page_size``, 1 to its maximum)."""
        paginator = self.pagination_class
        try:
            size = int(self.request.query_params.get(paginator.page_size_query_param, paginator.page_size))
        except (TypeError, ValueError):
            return paginator.page_size
        return max(1, min(size, paginator.max_page_size))

    def lean_list(
        self,
        reader: reads.Reader,
        listing: reads.Listing | None,
        *,
        when_empty: Callable[[], Any] | None = None,
    ) -> HttpResponse:
        """One keyset page of ``listing`` (None: no rows) through the lean read path: the JSON
        PostgreSQL wrote, sent as it is (another negotiated renderer gets the parsed data).
        ``when_empty`` runs when the page has no rows (it may raise: the thread's 404)."""
        body = reads.page_json(self.request, listing, reader, size=self.page_size(), when_empty=when_empty)
        if isinstance(getattr(self.request, "accepted_renderer", None), JSONRenderer):
            return HttpResponse(body.encode(), content_type="application/json")
        return Response(json.loads(body))


@extend_schema(tags=["social"])
class FeedViewSet(_PostListBase):
    """Your home feed: roots by people and organizations you follow, in communities you joined
    or follow, and your own — newest, hot or top first."""

    @extend_schema(parameters=SORT_PARAMS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sort, window = self.sort()
        reader = reads.Reader.of(request)
        return self.lean_list(reader, reads.home(reader, sort=sort, window=window))


@extend_schema(tags=["social"])
class PostViewSet(_PostListBase, mixins.RetrieveModelMixin):
    """Posts you may read. Lists show root posts (a community's, an author's, a tag's, or all),
    or search every published post with ``q``."""

    allow_anonymous = True
    permission_classes = (permissions.IsAuthenticatedOrReadOnly,)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet[Post]) -> QuerySet[Post]:
        return self.finish(selectors.visible_posts(qs, viewer=self.request.user))

    def listing(self, reader: reads.Reader) -> reads.Listing | None:
        """The list's query: a search (``q``), a community's, an author's, a tag's roots, or all."""
        params = self.request.query_params
        sort, window = self.sort()
        text = (params.get("q") or "").strip()[:200]
        if text:
            return reads.search(reader, text=text)
        if params.get("community"):
            pk = _uuid(params["community"])
            community = reads.community(reader.network_id, pk) if reader.network_id is not None else None
            if community is None or not can_view(self.request.user, community):
                raise NotFound()
            return reads.roots(reader, sort=sort, window=window, community_checked=True, community=pk)
        if params.get("author"):
            return reads.roots(reader, sort=sort, window=window, author=_uuid(params["author"]))
        if params.get("tag"):
            tag = reads.tag(reader.network_id, params["tag"].lower()[:50])
            if tag is None:
                return None
            return reads.roots(reader, sort=sort, window=window, tag=tag[0])
        return reads.roots(reader, sort=sort, window=window)

    def _read(self, post: Post, *, code: int = status.HTTP_200_OK) -> Response:
        post = self.finish(Post.objects.filter(pk=post.pk)).get()
        return Response(s.PostSerializer(post, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("community", OpenApiTypes.UUID),
            OpenApiParameter("author", OpenApiTypes.UUID),
            OpenApiParameter("tag", OpenApiTypes.STR, description="Tag slug"),
            OpenApiParameter(
                "q", OpenApiTypes.STR, description="Full-text search (websearch syntax), best first"
            ),
            *SORT_PARAMS,
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reader = reads.Reader.of(request)
        return self.lean_list(reader, self.listing(reader))

    @extend_schema(request=s.PostCreateSerializer, responses={201: s.PostSerializer})
    def create(self, request: Request) -> Response:
        serializer = s.PostCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        post = services.create_post(actor=request.user, **serializer.validated_data)
        return self._read(post, code=status.HTTP_201_CREATED)

    @extend_schema(request=s.PostUpdateSerializer, responses=s.PostSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        post = self.get_object()
        serializer = s.PostUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return self._read(services.edit_post(actor=request.user, post=post, **serializer.validated_data))

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.delete_post(
            actor=request.user, post=self.get_object(), reason=request.query_params.get("reason", "")[:2000]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- threads --------------------------------------------------------------------

    @extend_schema(request=None, responses=s.PostSerializer(many=True))
    @action(detail=True, methods=["get"])
    def thread(self, request: Request, pk: str | None = None) -> Response:
        """Every reply in this post's thread, oldest first (tombstones keep their place)."""
        # the post as get_queryset scopes it (network, org policy, visibility): only its root is needed;
        # the policy's object check passes on any row that scoping kept
        reader = reads.Reader.of(request)
        post_id = _uuid(pk)

        def when_empty() -> None:  # no replies, or a post the reader may not open (a 404)
            if reads.visible_post(reader, post_id) is None:
                raise NotFound()

        return self.lean_list(reader, reads.thread(reader, post_id=post_id), when_empty=when_empty)

    @extend_schema(request=s.ReplyCreateSerializer, responses={201: s.PostSerializer})
    @action(detail=True, methods=["post"])
    def replies(self, request: Request, pk: str | None = None) -> Response:
        parent = self.get_object()
        serializer = s.ReplyCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        post = services.create_post(actor=request.user, reply_to=parent, **serializer.validated_data)
        return self._read(post, code=status.HTTP_201_CREATED)

    # --- reactions ------------------------------------------------------------------

    def _reaction_result(self, post: Post, kind: str, changed: bool) -> Response:
        return Response(
            {"kind": kind, "changed": changed, "reaction_counts": post.reaction_counts, "score": post.score}
        )

    @extend_schema(request=s.PostReactionSerializer, responses=s.PostReactionResultSerializer)
    @action(detail=True, methods=["post"], url_path="reactions")
    def react(self, request: Request, pk: str | None = None) -> Response:
        """Add a reaction (idempotent: a second identical one changes nothing)."""
        post = self.get_object()
        serializer = s.PostReactionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kind = serializer.validated_data["kind"]
        changed = services.add_reaction(actor=request.user, post=post, kind=kind)
        return self._reaction_result(post, kind, changed)

    @extend_schema(
        request=None,
        responses=s.PostReactionResultSerializer,
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=ReactionKind.values)
        ],
    )
    @action(detail=True, methods=["delete"], url_path=r"reactions/(?P<kind>[^/.]{1,64})")
    def unreact(self, request: Request, pk: str | None = None, kind: str = "") -> Response:
        """Remove your reaction of this kind (idempotent)."""
        post = self.get_object()
        changed = services.remove_reaction(actor=request.user, post=post, kind=kind)
        return self._reaction_result(post, kind, changed)

    # --- moderation -----------------------------------------------------------------

    def _moderate(self, request: Request, service) -> Response:
        post = self.get_object()
        serializer = s.ModerationReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._read(service(actor=request.user, post=post, reason=serializer.validated_data["reason"]))

    @extend_schema(request=s.ModerationReasonSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def hide(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(request, services.hide_post)

    @extend_schema(request=s.ModerationReasonSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def unhide(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(request, services.unhide_post)

    @extend_schema(request=s.ModerationReasonSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def lock(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(request, services.lock_thread)

    @extend_schema(request=s.ModerationReasonSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def unlock(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(request, services.unlock_thread)

    @extend_schema(request=s.ModerationReasonSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def pin(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(request, services.pin_post)

    @extend_schema(request=s.ModerationReasonSerializer, responses=s.PostSerializer)
    @action(detail=True, methods=["post"])
    def unpin(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(request, services.unpin_post)


@extend_schema(tags=["social"])
class TagViewSet(NetworkScopedViewSet, ListModelMixin):
    """Tags of the network, most used first (``q``: slug prefix)."""

    queryset = Tag.objects.all()
    serializer_class = s.TagSerializer
    pagination_class = KeysetPagination
    scope_resource = "posts"
    allow_anonymous = True

    def scope_queryset(self, qs: QuerySet[Tag]) -> QuerySet[Tag]:
        prefix = (self.request.query_params.get("q") or "").strip().lower().lstrip("#")[:50]
        if prefix:
            qs = qs.filter(slug__startswith=prefix)
        if not is_network_moderator(self.request.user):
            qs = qs.filter(is_blocked=False)
        return qs.order_by("-post_count", "-id")

    @extend_schema(parameters=[OpenApiParameter("q", OpenApiTypes.STR, description="Slug prefix")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["social"])
class TagPostsViewSet(_PostListBase):
    """Root posts carrying the tag."""

    allow_anonymous = True

    @extend_schema(parameters=SORT_PARAMS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reader = reads.Reader.of(request)
        tag = reads.tag(reader.network_id, self.kwargs["slug"].lower()[:50])
        if tag is None or (tag[1] and not is_network_moderator(request.user)):
            raise NotFound()
        sort, window = self.sort()
        return self.lean_list(reader, reads.roots(reader, sort=sort, window=window, tag=tag[0]))
