"""Social reads shared with other domains (chat, inbox)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from .models import Block


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
