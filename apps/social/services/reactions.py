"""Reactions: idempotent toggles, counted by atomic SQL (never read-modify-write).

Adding inserts the (post, user, kind) row with ON CONFLICT DO NOTHING; only an
inserted row moves the post's ``reaction_counts[kind]``, ``score`` and
``hot_rank`` — all three in one UPDATE, so concurrent reactions never lose a
count. Removing deletes the row and, only if one was deleted, moves them back.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.core.exceptions import InvalidState, ValidationFailed
from apps.core.ids import uuid7

from ..models import Post, PostStatus, ReactionKind
from ._common import excerpt, notify, rate
from .ranking import GRAVITY, HOT_WINDOW, hot_sql

_BUMP = f"""
UPDATE social_post SET
    reaction_counts = jsonb_set(
        reaction_counts, ARRAY[%(kind)s],
        to_jsonb(GREATEST(0, COALESCE((reaction_counts ->> %(kind)s)::int, 0) + %(delta)s))
    ),
    score = GREATEST(0, score + %(delta)s),
    hot_rank = CASE
        WHEN status = 'published' AND reply_to_id IS NULL AND created_at > now() - %(window)s
        THEN {hot_sql("GREATEST(0, score + %(delta)s)").replace("%s", "%(gravity)s")}
        ELSE hot_rank END
WHERE id = %(post)s
RETURNING reaction_counts, score
"""  # noqa: S608 — constant SQL, every value a parameter


def _bump(post: Post, kind: str, delta: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _BUMP, {"kind": kind, "delta": delta, "post": post.pk, "window": HOT_WINDOW, "gravity": GRAVITY}
        )
        row = cursor.fetchone()
    if row:
        # Django's psycopg setup hands jsonb back as text (JSONField decodes it): decode here too
        counts = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        post.reaction_counts, post.score = counts, row[1]


def _check_kind(kind: str) -> None:
    if kind not in ReactionKind.values:
        raise ValidationFailed(f"Choose one of: {', '.join(ReactionKind.values)}.", field="kind")


@transaction.atomic
def add_reaction(*, actor: Any, post: Post, kind: str) -> bool:
    """Add ``kind`` (no-op when present); returns whether a reaction was added."""
    _check_kind(kind)
    if post.status != PostStatus.PUBLISHED:
        raise InvalidState("You can only react to a published post.")
    rate(actor, "reactions")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO social_postreaction (id, created_at, updated_at, network_id, post_id, user_id, kind) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (network_id, post_id, user_id, kind) DO NOTHING RETURNING id",
            [uuid7(), now, now, post.network_id, post.pk, actor.pk, kind],
        )
        added = cursor.fetchone() is not None
    if added:
        _bump(post, kind, +1)
        if post.author_id != actor.pk:
            notify(
                recipient=post.author,
                kind="reaction",
                actor=actor,
                post=post,
                title=f"@{actor.handle} reacted ({kind})",
                body=excerpt(post.body),
                target_url=f"/posts/{post.thread_root_id or post.pk}",
                data={"reaction": kind},
            )
    return added


@transaction.atomic
def remove_reaction(*, actor: Any, post: Post, kind: str) -> bool:
    """Remove ``kind`` (no-op when absent); returns whether a reaction was removed."""
    _check_kind(kind)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM social_postreaction WHERE post_id = %s AND user_id = %s AND kind = %s RETURNING id",
            [post.pk, actor.pk, kind],
        )
        removed = cursor.fetchone() is not None
    if removed:
        _bump(post, kind, -1)
    return removed
