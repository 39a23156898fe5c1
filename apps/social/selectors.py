"""Social reads: blocks (shared with chat and inbox), visibility, feeds, search.

Every feed is ONE indexed query (roots, published, a partial index per filter
and sort: see ``Post.Meta.indexes``) plus a fixed set of prefetches
(``with_post_relations``): the SQL count does not depend on the page size.
Sorts read stored columns only — ``hot_rank`` and ``score`` are written by the
services and the periodic job, never computed per row here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.core.ids import uuid7_floor

from .models import (
    Block,
    Community,
    CommunityMember,
    Follow,
    MemberStatus,
    Post,
    PostMedia,
    PostReaction,
    PostStatus,
    PostTag,
    PostVisibility,
)
from .permissions import is_authenticated, is_network_moderator, visible_communities_q

SORTS = ("new", "hot", "top")
TOP_WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30), "all": None}
ORDERING = {"new": ("-id",), "hot": ("-hot_rank", "-id"), "top": ("-score", "-id")}


# --- blocks (imported by chat and inbox) --------------------------------------------


def has_blocked(*, blocker_id: UUID, blocked_id: UUID) -> bool:
    """True when ``blocker_id`` has blocked ``blocked_id`` (one indexed lookup)."""
    if blocker_id == blocked_id:
        return False
    return Block.objects.filter(blocker_id=blocker_id, blocked_id=blocked_id).exists()


def blockers_among(*, user_ids: Iterable[UUID], blocked_id: UUID) -> set[UUID]:
    """The subset of ``user_ids`` who have blocked ``blocked_id`` (one query)."""
    ids = {uid for uid in user_ids if uid != blocked_id}
    if not ids:
        return set()
    return set(
        Block.objects.filter(blocked_id=blocked_id, blocker_id__in=ids).values_list("blocker_id", flat=True)
    )


def blocked_ids(viewer: Any) -> QuerySet:
    """Subquery: the users ``viewer`` has blocked."""
    return Block.objects.filter(blocker_id=viewer.pk).values("blocked_id")


# --- visibility -----------------------------------------------------------------------


def joined_community_ids(viewer: Any) -> QuerySet:
    return CommunityMember.objects.filter(user_id=viewer.pk, status=MemberStatus.ACTIVE).values(
        "community_id"
    )


def followed_user_ids(viewer: Any) -> QuerySet:
    return Follow.objects.filter(follower_id=viewer.pk, followee_user__isnull=False).values(
        "followee_user_id"
    )


def visible_posts_q(viewer: Any, *, community_checked: bool = False) -> Q:
    """Posts the viewer may read: the community's visibility (private → members) and the
    post's (public → anyone, network → signed-in members, followers → the author's followers)."""
    if not is_authenticated(viewer):
        q = Q(visibility=PostVisibility.PUBLIC)
        if not community_checked:
            q &= Q(community__isnull=True) | Q(community__visibility__in=["public", "restricted"])
        return q
    if is_network_moderator(viewer):
        return Q()
    q = (
        ~Q(visibility=PostVisibility.FOLLOWERS)
        | Q(author_id=viewer.pk)
        | Q(author_id__in=followed_user_ids(viewer))
    )
    if not community_checked:
        q &= (
            Q(community__isnull=True)
            | Q(community__visibility__in=["public", "restricted"])
            | Q(community_id__in=joined_community_ids(viewer))
            | Q(community__owner_user_id=viewer.pk)
        )
    return q


def visible_posts(qs: QuerySet[Post], *, viewer: Any) -> QuerySet[Post]:
    """Rows the viewer may open, tombstones included (a deleted or hidden post with replies
    keeps its place; the serializer shows its body only to its author and moderators)."""
    return qs.filter(visible_posts_q(viewer))


def visible_communities(qs: QuerySet[Community], *, viewer: Any) -> QuerySet[Community]:
    return qs.filter(visible_communities_q(viewer))


def with_post_relations(qs: QuerySet[Post], *, viewer: Any) -> QuerySet[Post]:
    """The fixed prefetches of every post list: 3 queries whatever the page size."""
    reactions = PostReaction.objects.filter(user_id=getattr(viewer, "pk", None)).only("post_id", "kind")
    return qs.select_related("author", "community", "owner_organization").prefetch_related(
        Prefetch("media", queryset=PostMedia.objects.select_related("upload").order_by("position")),
        Prefetch("post_tags", queryset=PostTag.objects.select_related("tag").order_by("id")),
        Prefetch("reactions", queryset=reactions, to_attr="viewer_reactions"),
    )


# --- feeds ----------------------------------------------------------------------------


def _sorted(qs: QuerySet[Post], sort: str, window: str | None) -> QuerySet[Post]:
    if sort not in SORTS:
        sort = "new"
    if sort == "top":
        span = TOP_WINDOWS.get(window or "all")
        if span is not None:  # UUIDv7 ids are time-ordered: the window is a pk range
            qs = qs.filter(pk__gte=uuid7_floor(timezone.now() - span))
    return qs.order_by(*ORDERING[sort])


def _roots(qs: QuerySet[Post]) -> QuerySet[Post]:
    return qs.filter(status=PostStatus.PUBLISHED, reply_to__isnull=True)


def _without_blocked(qs: QuerySet[Post], viewer: Any) -> QuerySet[Post]:
    if not is_authenticated(viewer):
        return qs
    return qs.exclude(author_id__in=blocked_ids(viewer))


def home_feed(
    qs: QuerySet[Post], *, viewer: Any, sort: str = "new", window: str | None = None
) -> QuerySet[Post]:
    """Roots by followed users and organizations, in joined or followed communities, and your own."""
    follows = Follow.objects.filter(follower_id=viewer.pk)
    sources = (
        Q(author_id=viewer.pk)
        | Q(author_id__in=follows.filter(followee_user__isnull=False).values("followee_user_id"))
        | Q(
            owner_organization_id__in=follows.filter(followee_organization__isnull=False).values(
                "followee_organization_id"
            )
        )
        | Q(community_id__in=joined_community_ids(viewer))
        | Q(community_id__in=follows.filter(followee_community__isnull=False).values("followee_community_id"))
    )
    qs = _roots(qs).filter(sources).filter(visible_posts_q(viewer))
    return _sorted(_without_blocked(qs, viewer), sort, window)


def network_feed(
    qs: QuerySet[Post], *, viewer: Any, sort: str = "new", window: str | None = None
) -> QuerySet[Post]:
    """Every root the viewer may read (``posts`` without filters)."""
    qs = _roots(qs).filter(visible_posts_q(viewer))
    return _sorted(_without_blocked(qs, viewer), sort, window)


def community_feed(
    qs: QuerySet[Post], *, viewer: Any, community: Community, sort: str = "new", window: str | None = None
) -> QuerySet[Post]:
    """Roots of one community the caller has been checked to see."""
    qs = _roots(qs).filter(community=community).filter(visible_posts_q(viewer, community_checked=True))
    return _sorted(_without_blocked(qs, viewer), sort, window)


def author_feed(
    qs: QuerySet[Post], *, viewer: Any, author_id: Any, sort: str = "new", window: str | None = None
) -> QuerySet[Post]:
    qs = _roots(qs).filter(author_id=author_id).filter(visible_posts_q(viewer))
    return _sorted(_without_blocked(qs, viewer), sort, window)


def tag_feed(
    qs: QuerySet[Post], *, viewer: Any, tag_id: Any, sort: str = "new", window: str | None = None
) -> QuerySet[Post]:
    """Roots carrying the tag: the (tag, post) index drives ``new``; the other sorts read the
    stored rank of the tag's posts."""
    qs = _roots(qs).filter(post_tags__tag_id=tag_id).filter(visible_posts_q(viewer))
    return _sorted(_without_blocked(qs, viewer), sort, window)


def thread(qs: QuerySet[Post], *, viewer: Any, root: Post) -> QuerySet[Post]:
    """Every reply of ``root``, oldest first (ix thread_root, id); tombstones stay in place."""
    return _without_blocked(qs.filter(thread_root=root), viewer).order_by("id")


def search_posts(qs: QuerySet[Post], *, viewer: Any, text: str) -> QuerySet[Post]:
    """Published posts matching ``text`` (websearch syntax), best first: the GIN index finds
    them, ``ts_rank`` orders the matches."""
    query = SearchQuery(text, search_type="websearch", config="english")
    qs = qs.filter(status=PostStatus.PUBLISHED, search_vector=query).filter(visible_posts_q(viewer))
    return (
        _without_blocked(qs, viewer)
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-id")
    )


def community_for(*, network: Any, viewer: Any, pk: Any) -> Community:
    """A community of ``network`` the viewer may see, else NotFound (a missing one reads the same)."""
    from apps.core.exceptions import NotFound

    from .permissions import can_view

    try:
        community = (
            Community.objects.filter(network=network, pk=pk).select_related("owner_organization").first()
        )
    except (ValueError, TypeError):
        community = None
    if community is None or not can_view(viewer, community):
        raise NotFound()
    return community


def post_for(*, network: Any, viewer: Any, pk: Any) -> Post:
    """A post of ``network`` the viewer may open, else NotFound."""
    from apps.core.exceptions import NotFound

    post = (
        visible_posts(Post.objects.filter(network=network, pk=pk), viewer=viewer)
        .select_related("community", "author", "thread_root")
        .first()
    )
    if post is None:
        raise NotFound()
    return post


# --- people -----------------------------------------------------------------------------


def followers_of(qs: QuerySet[Follow], *, user_id: Any) -> QuerySet[Follow]:
    return (
        qs.filter(followee_user_id=user_id)
        .select_related("follower", "followee_user", "followee_organization", "followee_community")
        .order_by("-id")
    )


def following_of(qs: QuerySet[Follow], *, user_id: Any) -> QuerySet[Follow]:
    return (
        qs.filter(follower_id=user_id)
        .select_related("follower", "followee_user", "followee_organization", "followee_community")
        .order_by("-id")
    )
