"""Social jobs (beat schedule in settings): thin wrappers over services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from .services import expire_bans as _expire_bans
from .services import refresh_hot_ranks as _refresh_hot_ranks
from .services.recount import recount as _recount


@shared_task(name="social.refresh_hot_ranks", ignore_result=True)
def refresh_hot_ranks() -> dict[str, int]:
    """Every 10 minutes: the stored hot rank of the last week's roots; older ones drop to 0."""
    return _refresh_hot_ranks()


@shared_task(name="social.expire_bans", ignore_result=True)
def expire_bans() -> int:
    """Every 5 minutes: bans whose time is up are lifted (and logged)."""
    return _expire_bans()


@shared_task(name="social.recount", ignore_result=True)
def recount() -> dict[str, int]:
    """Nightly: member/post/reply/reaction/report counters recomputed where they drifted."""
    return _recount()
