"""Social reads through the ORM: blocks (shared with chat and inbox), visibility, single posts.

The post lists read through ``apps.social.reads`` (one SQL statement per page,
the same visibility rules in SQL); this module keeps the querysets of a single
post, the writes' checks and the serializers' scopes. Sorts read stored
columns only — ``hot_rank`` and ``score`` are written by the services and the
periodic job, never computed per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db.models import Prefetch, Q, QuerySet

from .models import (
    Block,
    Community,
    CommunityMember,
    Follow,
    MemberStatus,
    Post,
    PostMedia,
    PostReaction,
    PostTag,
    PostVisibility,
)
from .permissions import is_authenticated, is_network_moderator, visible_communities_q

SORTS = ("new", "hot", "top")
TOP_WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30), "all": None}


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
# The post lists (home, network, community, author, tag, thread, search) read through
# ``apps.social.reads``: one SQL statement per page, the SQL form of ``visible_posts_q``.


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
