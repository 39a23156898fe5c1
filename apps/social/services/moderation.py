"""Moderators' actions on posts, each written to the typed moderation log.

hide: published → hidden (leaves every feed; its author and moderators still
read it); unhide: hidden → published. lock/unlock: no new replies in the
thread. pin/unpin: a root post of a community. Community moderators act in
their community; network moderators everywhere (and on posts outside
communities). An action on a post already in that state is a 409.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import InvalidState, ValidationFailed

from .. import permissions as perms
from ..models import Post, PostStatus
from ._common import count_published, lock_post, log_moderation
from .ranking import hot_rank


def _log(actor: Any, post: Post, action: str, reason: str = "") -> None:
    log_moderation(
        moderator=actor,
        action=action,
        target_type="post",
        target_id=post.pk,
        network_id=post.network_id,
        community=post.community,
        target_user=post.author,
        reason=reason,
    )


def _locked_for(actor: Any, post: Post) -> Post:
    locked = lock_post(post.pk)
    perms.require_moderate(actor, locked.community)
    return locked


@transaction.atomic
def hide_post(*, actor: Any, post: Post, reason: str = "") -> Post:
    locked = _locked_for(actor, post)
    if locked.status != PostStatus.PUBLISHED:
        raise InvalidState(f"A {locked.status} post cannot be hidden.")
    locked.status = PostStatus.HIDDEN
    locked.hidden_reason = reason
    locked.save(update_fields=["status", "hidden_reason", "updated_at"])
    count_published(locked, -1)
    _log(actor, locked, "post.hide", reason)
    return locked


@transaction.atomic
def unhide_post(*, actor: Any, post: Post, reason: str = "") -> Post:
    locked = _locked_for(actor, post)
    if locked.status != PostStatus.HIDDEN:
        raise InvalidState("Only a hidden post can be unhidden.")
    locked.status = PostStatus.PUBLISHED
    locked.hidden_reason = ""
    if locked.reply_to_id is None:
        age = (timezone.now() - locked.created_at).total_seconds() / 3600
        locked.hot_rank = hot_rank(score=locked.score, age_hours=age) if age < 24 * 7 else 0.0
    locked.save(update_fields=["status", "hidden_reason", "hot_rank", "updated_at"])
    count_published(locked, +1)
    _log(actor, locked, "post.unhide", reason)
    return locked


_STATE_WORD = {"locked_at": ("locked", "unlocked"), "pinned_at": ("pinned", "not pinned")}


def _toggle(actor: Any, post: Post, field: str, on: bool, action: str, reason: str) -> Post:
    locked = _locked_for(actor, post)
    if locked.status == PostStatus.DELETED:
        raise InvalidState("This post is deleted.")
    if field == "pinned_at" and (locked.reply_to_id is not None or locked.community_id is None):
        raise ValidationFailed("Only a community's root posts can be pinned.", field="post")
    if (getattr(locked, field) is not None) == on:
        raise InvalidState(f"This post is already {_STATE_WORD[field][0 if on else 1]}.")
    setattr(locked, field, timezone.now() if on else None)
    locked.save(update_fields=[field, "updated_at"])
    _log(actor, locked, action, reason)
    return locked


@transaction.atomic
def lock_thread(*, actor: Any, post: Post, reason: str = "") -> Post:
    return _toggle(actor, post, "locked_at", True, "post.lock", reason)


@transaction.atomic
def unlock_thread(*, actor: Any, post: Post, reason: str = "") -> Post:
    return _toggle(actor, post, "locked_at", False, "post.unlock", reason)


@transaction.atomic
def pin_post(*, actor: Any, post: Post, reason: str = "") -> Post:
    return _toggle(actor, post, "pinned_at", True, "post.pin", reason)


@transaction.atomic
def unpin_post(*, actor: Any, post: Post, reason: str = "") -> Post:
    return _toggle(actor, post, "pinned_at", False, "post.unpin", reason)


@transaction.atomic
def set_tag_blocked(*, actor: Any, tag: Any, blocked: bool, reason: str = "") -> Any:
    """Network moderators block a tag (new posts may not use it; its feed is gone) or lift it."""
    from apps.core.exceptions import PermissionDenied

    from ..models import Tag

    if not perms.is_network_moderator(actor):
        raise PermissionDenied("Only network moderators may block tags.", code="not_a_moderator")
    updated = Tag.objects.filter(pk=tag.pk, is_blocked=not blocked).update(is_blocked=blocked)
    if not updated:
        raise InvalidState(f"This tag is already {'blocked' if blocked else 'allowed'}.")
    tag.is_blocked = blocked
    log_moderation(
        moderator=actor,
        action="tag.block" if blocked else "tag.unblock",
        target_type="tag",
        target_id=tag.pk,
        network_id=tag.network_id,
        reason=reason,
        data={"slug": tag.slug},
    )
    return tag
