"""The stored hot rank (Lemmy's formula) and the writes that keep it current.

    hot_rank = log10(max(1, 3 + score)) / (age_hours + 2) ^ 1.8

Written on create, by every reaction change (in the same UPDATE as the
counters) and by ``refresh_hot_ranks`` (every 10 minutes) for roots younger
than ``HOT_WINDOW``; older ones drop to 0 (the feeds' ``hot`` sort then falls
back to recency through the id tie-breaker). Never computed at read time.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.core.ids import uuid7_floor

HOT_WINDOW = timedelta(days=7)
GRAVITY = 1.8
_HOT_SQL = "log(greatest(1, 3 + {score})) / power(extract(epoch from (now() - created_at)) / 3600.0 + 2, %s)"
HOT_SQL = _HOT_SQL.format(score="score")


def hot_rank(*, score: int, age_hours: float) -> float:
    return math.log10(max(1, 3 + score)) / math.pow(max(0.0, age_hours) + 2, GRAVITY)


def hot_sql(score_sql: str = "score") -> str:
    """The formula as SQL over the post's columns (``%s`` = the gravity parameter)."""
    return _HOT_SQL.format(score=score_sql)


def refresh_hot_ranks(*, network_id=None) -> dict[str, int]:
    """Recompute the rank of recent published roots; zero the ones that aged out."""
    floor = uuid7_floor(timezone.now() - HOT_WINDOW)
    scope, params = "", []
    if network_id is not None:
        scope, params = " AND network_id = %s", [network_id]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE social_post SET hot_rank = {HOT_SQL} "  # noqa: S608 — constant SQL
            "WHERE id >= %s AND status = 'published' AND reply_to_id IS NULL" + scope,
            [GRAVITY, floor, *params],
        )
        refreshed = cursor.rowcount
        cursor.execute(
            "UPDATE social_post SET hot_rank = 0 "  # noqa: S608 — constant SQL
            "WHERE hot_rank > 0 AND id < %s AND status = 'published' AND reply_to_id IS NULL" + scope,
            [floor, *params],
        )
        aged = cursor.rowcount
    return {"refreshed": refreshed, "aged_out": aged}
