"""Reads of AI usage: who sees which rows, and sums by day / model / agent / user.

Visible usage: your own calls and your agents' (``user`` or ``agent`` is you
or one of your agents); with ``organization``, that organization's calls, for
its owners and billing members (``org.billing``) only.

Sums over a date range read the ``AIUsageDaily`` roll-up for the days before
today and ``AIUsage`` for today (UTC), so they cost a bounded number of rows
whatever the range.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.exceptions import NotFound

from ..models import AIUsage, AIUsageDaily

GROUPS = {"day": "day", "model": "model", "agent": "agent_id", "user": "user_id", "is_byok": "is_byok"}
SUMS = ("calls", "error_calls", "input_tokens", "output_tokens", "cached_input_tokens", "cost_micros")


def usage_visibility_q(user: Any, *, organization: Any = None) -> Q:
    if organization is not None:
        from apps.organizations import roles

        if organization.network_id != user.network_id or not roles.has_org_permission(
            user, organization, "org.billing"
        ):
            raise NotFound()
        return Q(organization_id=organization.pk)
    from apps.accounts.models import User

    mine = User.objects.filter(is_ai=True, agent_owner_user_id=user.pk).values("pk")
    return Q(user_id=user.pk) | Q(agent_id__in=mine)


def utc_today() -> date:
    return timezone.now().astimezone(UTC).date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def usage_sums(
    *,
    live: QuerySet[AIUsage],
    daily: QuerySet[AIUsageDaily],
    start: date,
    end: date,
    group_by: str | None,
    filters: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Sums per group (or one total when ``group_by`` is None), days ``start``..``end`` inclusive.

    ``live`` and ``daily`` are the caller's scoped querysets (network,
    visibility, organization policy).
    """
    filters = filters or {}
    key = GROUPS[group_by] if group_by else None
    today = utc_today()
    merged: dict[Any, dict[str, Any]] = {}

    def add(rows: QuerySet) -> None:
        for row in rows:
            group = row.get(key) if key else None
            slot = merged.setdefault(group, {name: 0 for name in SUMS})
            for name in SUMS:
                slot[name] += int(row[name] or 0)

    daily_end = min(end, today - timedelta(days=1))
    if start <= daily_end:
        daily = daily.filter(day__gte=start, day__lte=daily_end, **filters)
        daily_sums = {name: Sum(name) for name in SUMS}
        add(daily.values(key).annotate(**daily_sums).order_by() if key else [daily.aggregate(**daily_sums)])
    if end >= today:
        live = live.filter(
            created_at__gte=day_start(max(start, today)),
            created_at__lt=day_start(end + timedelta(days=1)),
            **filters,
        )
        sums = {
            "calls": Count("id"),
            "error_calls": Count("id", filter=Q(status=AIUsage.Status.ERROR)),
            **{name: Sum(name) for name in SUMS[2:]},
        }
        if key == "day":
            live = live.annotate(day=TruncDate("created_at", tzinfo=UTC))
        add(live.values(key).annotate(**sums).order_by() if key else [live.aggregate(**sums)])
    out = []
    for group, values in merged.items():
        row = dict(values)
        if key:
            row["key"] = (
                group.isoformat() if isinstance(group, date) else (str(group) if group is not None else None)
            )
        out.append(row)
    if key == "day":
        out.sort(key=lambda r: r["key"] or "")
    elif key:
        out.sort(key=lambda r: -r["cost_micros"])
    return out
