"""Posts and threads.

published → hidden (moderators; ``moderation``) → published; published|hidden →
deleted (the author or a moderator: a tombstone — body, media and mentions
gone, the row kept so replies keep their place). A reply stays in its
parent's community and network, inherits the root's visibility, needs a
published, unlocked parent whose author has not blocked the replier. The root
keeps ``reply_count`` / ``last_reply_at`` (F() in the same transaction).
Only the author edits (re-rendered, re-parsed; new mentions notified).

New accounts (younger than the network's ``new_account_days``) may post at
most ``NEW_ACCOUNT_MAX_LINKS`` links, ``NEW_ACCOUNT_MAX_MENTIONS`` mentions and
no media (Discourse's trust level 0). Posting is rate limited by the
network's ``rate_limits.posts``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.accounts.models import User
from apps.core import uploads
from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, PermissionDenied, ValidationFailed
from apps.organizations.roles import has_org_permission

from .. import permissions as perms
from ..markdown import render
from ..models import (
    Community,
    CommunityMember,
    Follow,
    MemberStatus,
    Post,
    PostMedia,
    PostStatus,
    PostVisibility,
)
from ..selectors import blockers_among, has_blocked
from ._common import count_published, excerpt, lock_post, notify, rate, resolve_tags, set_post_tags
from .ranking import hot_rank

MAX_BODY = 10_000
MAX_MENTIONS = 20
MAX_MEDIA = 10
NEW_ACCOUNT_MAX_LINKS = 2
NEW_ACCOUNT_MAX_MENTIONS = 2
_UNSET: Any = object()


def is_new_account(user: Any) -> bool:
    if perms.is_network_moderator(user):
        return False
    days = int(user.network.setting("new_account_days", 2) or 0)
    return bool(days and user.created_at and user.created_at > timezone.now() - timedelta(days=days))


def _check_body(body: str, *, has_media: bool) -> None:
    if len(body) > MAX_BODY:
        raise ValidationFailed(f"A post may be at most {MAX_BODY} characters.", field="body")
    if not body.strip() and not has_media:
        raise ValidationFailed("Write something (or attach media).", field="body")


def _parse(actor: Any, body: str, *, media_count: int) -> tuple[str, list[Any]]:
    """Render, then apply the mention cap and the new-account limits; returns (html, user ids)."""
    rendered = render(body)
    if len(rendered.mentions) > MAX_MENTIONS:
        raise ValidationFailed(f"A post may mention at most {MAX_MENTIONS} people.", field="body")
    if is_new_account(actor):
        if rendered.link_count > NEW_ACCOUNT_MAX_LINKS:
            raise ValidationFailed(
                f"New accounts may post at most {NEW_ACCOUNT_MAX_LINKS} links.",
                field="body",
                code="new_account_limit",
            )
        if len(rendered.mentions) > NEW_ACCOUNT_MAX_MENTIONS:
            raise ValidationFailed(
                f"New accounts may mention at most {NEW_ACCOUNT_MAX_MENTIONS} people.",
                field="body",
                code="new_account_limit",
            )
        if media_count:
            raise ValidationFailed(
                "New accounts cannot attach media yet.", field="media", code="new_account_limit"
            )
    ids: list[Any] = []
    if rendered.mentions:
        found = dict(
            User.objects.filter(
                network_id=actor.network_id,
                handle__in=rendered.mentions,
                state=User.State.ACTIVE,
                is_active=True,
            ).values_list("handle", "pk")
        )
        ids = [found[h] for h in rendered.mentions if h in found]
    return rendered.html, ids


def readers_among(post: Post, user_ids: list[Any]) -> list[Any]:
    """Who of ``user_ids`` may read ``post`` (for mention notices: never leak a private post)."""
    ids = [uid for uid in user_ids if uid != post.author_id]
    if not ids:
        return []
    community = post.community
    if community is not None and community.is_private:
        members = set(
            CommunityMember.objects.filter(
                community=community, user_id__in=ids, status=MemberStatus.ACTIVE
            ).values_list("user_id", flat=True)
        )
        ids = [uid for uid in ids if uid in members or uid == community.owner_user_id]
    if post.visibility == PostVisibility.FOLLOWERS and ids:
        followers = set(
            Follow.objects.filter(followee_user_id=post.author_id, follower_id__in=ids).values_list(
                "follower_id", flat=True
            )
        )
        ids = [uid for uid in ids if uid in followers]
    return ids


def _notify_mentions(post: Post, actor: Any, user_ids: list[Any], *, skip: set[Any] = frozenset()) -> None:
    ids = [uid for uid in readers_among(post, user_ids) if uid not in skip]
    if not ids:
        return
    blockers = blockers_among(user_ids=ids, blocked_id=actor.pk)
    recipients = User.objects.filter(pk__in=[uid for uid in ids if uid not in blockers])
    for recipient in recipients:
        notify(
            recipient=recipient,
            kind="mention",
            actor=actor,
            post=post,
            title=f"@{actor.handle} mentioned you",
            body=excerpt(post.body),
            target_url=f"/posts/{post.pk}",
        )


def _check_reply(actor: Any, parent: Post, community: Community | None) -> Post:
    ensure_same_network(actor.network_id, parent)
    if not Post.objects.filter(pk=parent.pk).filter(_visible_q(actor)).exists():
        raise ValidationFailed(f'Invalid pk "{parent.pk}" - object does not exist.', field="reply_to")
    if community is not None and community.pk != parent.community_id:
        raise ValidationFailed("A reply stays in its parent's community.", field="community")
    root = parent.thread_root if parent.thread_root_id else parent
    if parent.status != PostStatus.PUBLISHED:
        raise InvalidState("You can only reply to a published post.", code="parent_not_published")
    if parent.locked_at or root.locked_at:
        raise InvalidState("This thread is locked.", code="thread_locked")
    if has_blocked(blocker_id=parent.author_id, blocked_id=actor.pk):
        raise PermissionDenied("You cannot reply to this person.", code="blocked")
    return root


def _visible_q(actor: Any) -> Q:
    from ..selectors import visible_posts_q

    return visible_posts_q(actor)


def _attach_media(actor: Any, post: Post, media: list[dict[str, Any]]) -> None:
    if not media:
        return
    if len(media) > MAX_MEDIA:
        raise ValidationFailed(f"A post may have at most {MAX_MEDIA} media.", field="media")
    rows = [item["upload"] for item in media]
    uploads.consume_uploads(actor=actor, uploads=rows, kinds=["image", "video", "file"])
    PostMedia.objects.bulk_create(
        [
            PostMedia(
                network_id=post.network_id,
                post=post,
                upload=item["upload"],
                kind=item["upload"].kind,
                width=item["upload"].width,
                height=item["upload"].height,
                duration_ms=item["upload"].duration_ms,
                alt_text=item.get("alt_text", "") or "",
                position=position,
            )
            for position, item in enumerate(media)
        ]
    )


@transaction.atomic
def create_post(
    *,
    actor: Any,
    body: str = "",
    community: Community | None = None,
    reply_to: Post | None = None,
    visibility: str | None = None,
    tags: list[str] | None = None,
    media: list[dict[str, Any]] | None = None,
    as_organization: Any = None,
) -> Post:
    media = media or []
    _check_body(body, has_media=bool(media))
    ensure_same_network(actor.network_id, community, as_organization)
    root = None
    if reply_to is not None:
        root = _check_reply(actor, reply_to, community)
        community = reply_to.community
        visibility = root.visibility
    if community is not None:
        perms.require_post(actor, community)
    if as_organization is not None:
        if as_organization.archived_at is not None or not has_org_permission(
            actor, as_organization, "org.post_as_org"
        ):
            raise PermissionDenied(
                "Your role in this organization does not allow posting as it.", code="org_permission_denied"
            )
    if visibility is not None and visibility not in PostVisibility.values:
        raise ValidationFailed("Choose network, public or followers.", field="visibility")
    rate(actor, "posts")
    html, mentioned = _parse(actor, body, media_count=len(media))
    tag_rows = resolve_tags(network_id=actor.network_id, names=tags or [])
    now = timezone.now()
    post = Post.objects.create(
        network_id=actor.network_id,
        author=actor,
        owner_user=None if as_organization is not None else actor,
        owner_organization=as_organization,
        community=community,
        reply_to=reply_to,
        thread_root=root,
        body=body,
        body_html=html,
        visibility=visibility or PostVisibility.NETWORK,
        mentioned_user_ids=mentioned,
        hot_rank=hot_rank(score=0, age_hours=0) if reply_to is None else 0.0,
    )
    _attach_media(actor, post, media)
    set_post_tags(post=post, tags=tag_rows, counted=False)
    if root is None:
        count_published(post, +1)
    else:
        Post.objects.filter(pk=root.pk).update(reply_count=F("reply_count") + 1, last_reply_at=now)
        if reply_to.author_id != actor.pk:
            notify(
                recipient=reply_to.author,
                kind="reply",
                actor=actor,
                post=post,
                title=f"@{actor.handle} replied",
                body=excerpt(body),
                target_url=f"/posts/{root.pk}#{post.pk}",
                data={"thread_root": str(root.pk), "reply_to": str(reply_to.pk)},
            )
    _notify_mentions(post, actor, mentioned, skip={reply_to.author_id} if reply_to is not None else set())
    return post


@transaction.atomic
def edit_post(*, actor: Any, post: Post, body: Any = _UNSET, tags: Any = _UNSET) -> Post:
    locked = lock_post(post.pk)
    if locked.author_id != actor.pk:
        raise PermissionDenied("Only the author may edit a post.", code="not_author")
    if locked.status == PostStatus.DELETED:
        raise InvalidState("A deleted post cannot be edited.")
    changed = []
    if body is not _UNSET and body != locked.body:
        _check_body(body, has_media=locked.media.exists())
        before = set(locked.mentioned_user_ids)
        html, mentioned = _parse(actor, body, media_count=0)
        locked.body, locked.body_html, locked.mentioned_user_ids = body, html, mentioned
        changed += ["body", "body_html", "mentioned_user_ids"]
        new_mentions = [uid for uid in mentioned if uid not in before]
        _notify_mentions(locked, actor, new_mentions)
    if tags is not _UNSET:
        set_post_tags(
            post=locked,
            tags=resolve_tags(network_id=locked.network_id, names=tags or []),
            counted=locked.status == PostStatus.PUBLISHED and locked.reply_to_id is None,
        )
        changed.append("tags")
    if changed:
        locked.edited_at = timezone.now()
        locked.save(update_fields=[f for f in changed if f != "tags"] + ["edited_at", "updated_at"])
    return locked


@transaction.atomic
def delete_post(*, actor: Any, post: Post, reason: str = "") -> Post:
    """The author, or a moderator of its community (logged), turns the post into a tombstone."""
    from ._common import log_moderation

    locked = lock_post(post.pk)
    if locked.status == PostStatus.DELETED:
        return locked  # idempotent
    by_moderator = locked.author_id != actor.pk
    if by_moderator:
        perms.require_moderate(actor, locked.community)
    was_published = locked.status == PostStatus.PUBLISHED
    media = list(PostMedia.objects.filter(post=locked).select_related("upload"))
    PostMedia.objects.filter(post=locked).delete()
    for item in media:
        uploads.release_upload(upload=item.upload)
    if was_published and locked.reply_to_id is None:
        count_published(locked, -1)
    if locked.thread_root_id:
        Post.objects.filter(pk=locked.thread_root_id).update(
            reply_count=Greatest(F("reply_count") - 1, Value(0))
        )
    locked.status = PostStatus.DELETED
    locked.deleted_at = timezone.now()
    locked.body = locked.body_html = ""
    locked.mentioned_user_ids = []
    locked.hot_rank = 0.0
    locked.pinned_at = None
    locked.save(
        update_fields=[
            "status", "deleted_at", "body", "body_html", "mentioned_user_ids", "hot_rank", "pinned_at",
            "updated_at",
        ]
    )  # fmt: skip
    if by_moderator:
        log_moderation(
            moderator=actor,
            action="post.delete",
            target_type="post",
            target_id=locked.pk,
            network_id=locked.network_id,
            community=locked.community,
            target_user=locked.author,
            reason=reason,
        )
    return locked
