"""Shared by the social services: the moderation log, notices, rate limits, tags."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Greatest

from apps.core import audit
from apps.core.exceptions import ValidationFailed
from apps.core.ratelimit import enforce_network_rate
from apps.inbox.services import deliver_inbox_item

from ..models import Community, ModerationLogEntry, Post, PostTag, Tag

#: network ``settings.rate_limits`` names and their defaults (per user)
RATE_DEFAULTS = {
    "posts": "30/h",
    "reactions": "600/h",
    "follows": "200/h",
    "reports": "30/h",
    "communities": "10/d",
    "shares": "200/h",
}
MAX_TAGS = 10
_TAG_SPACES = re.compile(r"[\s\-]+")
_TAG_VALID = re.compile(r"^[a-z0-9_]{1,50}$")


def rate(actor: Any, name: str) -> None:
    enforce_network_rate(network=actor.network, name=name, subject=actor.pk, default=RATE_DEFAULTS[name])


def log_moderation(
    *,
    moderator: Any,
    action: str,
    target_type: str,
    target_id: Any,
    network_id: Any,
    community: Community | None = None,
    target_user: Any = None,
    reason: str = "",
    expires_at: Any = None,
    data: dict | None = None,
) -> ModerationLogEntry:
    """One typed moderation-log row, and the ``mod.*`` audit event beside it."""
    entry = ModerationLogEntry.objects.create(
        network_id=network_id,
        moderator=moderator if getattr(moderator, "pk", None) else None,
        action=action,
        community=community,
        target_type=target_type,
        target_id=target_id,
        target_user=target_user,
        reason=reason or "",
        expires_at=expires_at,
        data=data or {},
    )
    audit.record(
        network=network_id,
        actor=moderator,
        action=f"mod.{action}",
        target_type=target_type,
        target_id=target_id,
        organization=community.owner_organization if community is not None else None,
        data={"reason": reason, "community": str(community.pk) if community else None, **(data or {})},
    )
    return entry


def notify(*, recipient: Any, kind: str, actor: Any, post: Post | None = None, **extra: Any) -> None:
    """A social inbox item (the inbox acts on commit and drops self-actions and blocks)."""
    target_type = extra.pop("target_type", "post")
    target_id = extra.pop("target_id", post.pk if post is not None else None)
    deliver_inbox_item(
        recipient=recipient, kind=kind, target_type=target_type, target_id=target_id, actor=actor, **extra
    )


def excerpt(text: str, length: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


# --- tags -------------------------------------------------------------------------------


def normalise_tag(raw: Any) -> str:
    """NFKC, lower case, ``#`` dropped, spaces and dashes → ``_``; must be ``[a-z0-9_]{1,50}``."""
    if not isinstance(raw, str):
        raise ValidationFailed("Tags are strings.", field="tags")
    text = unicodedata.normalize("NFKC", raw).strip().lstrip("#").lower()
    text = _TAG_SPACES.sub("_", text)
    if not _TAG_VALID.match(text):
        raise ValidationFailed(
            f"Tag {raw[:60]!r} must be 1–50 letters a–z, digits or underscores.", field="tags"
        )
    return text


def resolve_tags(*, network_id: Any, names: list[Any]) -> list[Tag]:
    """Normalised, deduplicated tags, created when new (INSERT … ON CONFLICT DO NOTHING)."""
    slugs: list[str] = []
    for name in names:
        slug = normalise_tag(name)
        if slug not in slugs:
            slugs.append(slug)
    if len(slugs) > MAX_TAGS:
        raise ValidationFailed(f"A post may have at most {MAX_TAGS} tags.", field="tags")
    if not slugs:
        return []
    Tag.objects.bulk_create(
        [Tag(network_id=network_id, slug=slug, name=slug) for slug in slugs], ignore_conflicts=True
    )
    tags = {t.slug: t for t in Tag.objects.filter(network_id=network_id, slug__in=slugs)}
    blocked = [slug for slug in slugs if tags[slug].is_blocked]
    if blocked:
        raise ValidationFailed(
            f"These tags are not allowed: {', '.join(blocked)}.", field="tags", code="tag_blocked"
        )
    return [tags[slug] for slug in slugs]


def set_post_tags(*, post: Post, tags: list[Tag], counted: bool) -> None:
    """Replace the post's tags; ``counted`` = the post counts towards tag post_count."""
    current = set(PostTag.objects.filter(post=post).values_list("tag_id", flat=True))
    wanted = {tag.pk for tag in tags}
    removed, added = current - wanted, wanted - current
    if removed:
        PostTag.objects.filter(post=post, tag_id__in=removed).delete()
        if counted:
            Tag.objects.filter(pk__in=removed).update(post_count=Greatest(F("post_count") - 1, Value(0)))
    if added:
        # in the order given (ids are time-ordered: the post shows its tags as written)
        PostTag.objects.bulk_create(
            [PostTag(network_id=post.network_id, post=post, tag=t) for t in tags if t.pk in added]
        )
        if counted:
            Tag.objects.filter(pk__in=added).update(post_count=F("post_count") + 1)


def count_published(post: Post, delta: int) -> None:
    """A root entering (+1) or leaving (-1) the published set moves its counters."""
    if post.reply_to_id is not None:
        return
    if post.community_id:
        Community.objects.filter(pk=post.community_id).update(
            post_count=Greatest(F("post_count") + delta, Value(0))
        )
    tag_ids = list(PostTag.objects.filter(post=post).values_list("tag_id", flat=True))
    if tag_ids:
        Tag.objects.filter(pk__in=tag_ids).update(post_count=Greatest(F("post_count") + delta, Value(0)))


def lock_post(post_id: Any) -> Post:
    """The post row, locked (only this table: FOR UPDATE OF self)."""
    return Post.objects.select_for_update(of=("self",)).get(pk=post_id)
