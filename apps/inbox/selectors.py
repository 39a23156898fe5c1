"""Reads of the inbox (always one recipient's rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from .models import InboxItem

FILTERS = ("all", "unread", "archived", "action")


def _not_snoozed(now: Any) -> Q:
    return Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)


def inbox_items(
    qs: QuerySet[InboxItem], *, user: Any, filter: str = "all", kind: str | None = None
) -> QuerySet[InboxItem]:
    """``all``: active and not snoozed; ``unread``: of those, unread; ``archived``; ``action``: open action items."""
    now = timezone.now()
    qs = qs.filter(recipient_id=user.pk)
    if filter == "archived":
        qs = qs.filter(archived_at__isnull=False)
    elif filter == "action":
        qs = qs.filter(
            requires_action=True, action_state=InboxItem.ActionState.PENDING, archived_at__isnull=True
        )
    elif filter == "unread":
        qs = qs.filter(_not_snoozed(now), read_at__isnull=True, archived_at__isnull=True)
    else:
        qs = qs.filter(_not_snoozed(now), archived_at__isnull=True)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.select_related("actor")


def _unread(now: Any) -> Q:
    return Q(read_at__isnull=True, archived_at__isnull=True) & _not_snoozed(now)


#: longest a cached unread count lives (a missed invalidation heals within this)
UNREAD_CACHE_SECONDS = 300
_GEN_SECONDS = 86400

# one round trip: the user's generation, then the count cached under it
_CACHED = "local g = redis.call('GET', KEYS[1]) or '0' return {g, redis.call('GET', KEYS[2] .. g)}"
_script: Any = None


def _keys(user_id: Any) -> tuple[str, str]:
    from apps.core.redis import key

    return key("inbox-unread-gen", user_id), key("inbox-unread", user_id, "")


def unread_count(*, user_id: Any) -> int:
    """The unread count, from Redis while nothing changed it; else one index-only count.

    Cached under the user's generation, which every change bumps after it
    commits (``unread_changed``), so a count computed from an older snapshot
    is never read again. It expires at the next snooze end among the unread
    items (a snoozed item counts again then) and after ``UNREAD_CACHE_SECONDS``.
    """
    return cached_unread_counts([user_id])[user_id]


def cached_unread_counts(user_ids: Iterable[Any]) -> dict[Any, int]:
    """``unread_count`` for several users: one Redis round trip, one grouped count for the misses."""
    global _script
    from apps.core.redis import get_redis

    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    client = get_redis()
    if _script is None:
        _script = client.register_script(_CACHED)
    pipe = client.pipeline(transaction=False)
    for user_id in ids:
        _script(keys=list(_keys(user_id)), client=pipe)
    counts: dict[Any, int] = {}
    gens: dict[Any, str] = {}
    for user_id, (gen, cached) in zip(ids, pipe.execute(), strict=True):
        if cached is not None:
            counts[user_id] = int(cached)
        else:
            gens[user_id] = gen
    if not gens:
        return counts
    now = timezone.now()
    rows = {
        str(row["recipient_id"]): row
        for row in InboxItem.objects.filter(
            recipient_id__in=list(gens), read_at__isnull=True, archived_at__isnull=True
        )
        .values("recipient_id")
        .annotate(
            n=Count("id", filter=_not_snoozed(now)),
            wakes=Min("snoozed_until", filter=Q(snoozed_until__gt=now)),
        )
    }
    pipe = client.pipeline(transaction=False)
    for user_id, gen in gens.items():
        row = rows.get(str(user_id)) or {"n": 0, "wakes": None}
        counts[user_id] = row["n"]
        ttl = UNREAD_CACHE_SECONDS
        if row["wakes"] is not None:
            ttl = min(ttl, int((row["wakes"] - now).total_seconds()))
        if ttl >= 1:
            pipe.set(_keys(user_id)[1] + str(gen), row["n"], ex=ttl)
    pipe.execute()
    return counts


def unread_changed(user_ids: Iterable[Any]) -> None:
    """Call after the change committed: the cached counts of these users are stale."""
    from apps.core.redis import get_redis

    ids = list(user_ids)
    if not ids:
        return
    pipe = get_redis().pipeline(transaction=False)
    for user_id in ids:
        gen_key, _ = _keys(user_id)
        pipe.incr(gen_key)
        pipe.expire(gen_key, _GEN_SECONDS)
    pipe.execute()


def unread_counts(user_ids: Iterable[Any]) -> dict[Any, int]:
    ids = set(user_ids)
    if not ids:
        return {}
    rows = (
        InboxItem.objects.filter(_unread(timezone.now()), recipient_id__in=ids)
        .values("recipient_id")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({row["recipient_id"]: row["n"] for row in rows})
    return counts
