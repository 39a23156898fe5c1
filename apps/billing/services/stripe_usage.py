"""Metered AI overage (``report_usage``, 00:30 UTC) and ``reconcile_subscriptions`` (nightly).

``report_usage(day)``: for each account with platform-key usage that day (the
``AIUsageDaily`` roll-up, ``is_byok`` false) the day's share of usage past the
month's allowance is

    overage = max(0, before + day − allowance) − max(0, before − allowance)

(``before`` = the month's usage on earlier days), rounded up to cents. Prepaid
credits are consumed first (ledger key ``usage:<account>:<day>``); the rest is
sent to the Stripe billing meter as one meter event with identifier
``usage:<account>:<day>`` (also the request's idempotency key). The
``UsageReport`` row (unique per account and day) records it: a re-run finds
the row ``reported`` and sends nothing, and the ledger and Stripe dedupe on
the same identifier should a run die half way. Accounts are handled in
batches (``batch_size``), each in its own transaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ..models import AIUsageDaily, BillingStripeAccount, CreditKind, UsageReport, UsageReportStatus
from ..stripe_client import StripeUnavailable, as_dict, call, stripe_client
from . import credits

logger = logging.getLogger(__name__)
MICROS_PER_CENT = 10_000


def usage_identifier(account_id: Any, day: date) -> str:
    return f"usage:{account_id}:{day.isoformat()}"


def _sums(account_ids: list[Any], start: date, end: date) -> dict[Any, int]:
    rows = (
        AIUsageDaily.objects.filter(
            billing_account_id__in=account_ids, is_byok=False, day__gte=start, day__lt=end
        )
        .values("billing_account_id")
        .annotate(total=Sum("cost_micros"))
    )
    return {r["billing_account_id"]: int(r["total"] or 0) for r in rows}


def report_usage(*, day: date | None = None, batch_size: int = 200) -> dict[str, int]:
    day = day or (timezone.now().astimezone(UTC).date() - timedelta(days=1))
    account_ids = list(
        AIUsageDaily.objects.filter(day=day, is_byok=False, billing_account_id__isnull=False)
        .values_list("billing_account_id", flat=True)
        .distinct()
        .order_by("billing_account_id")
    )
    counts = {"accounts": 0, "reported": 0, "failed": 0, "skipped": 0}
    month_start = day.replace(day=1)
    for i in range(0, len(account_ids), batch_size):
        batch = account_ids[i : i + batch_size]
        day_sums = _sums(batch, day, day + timedelta(days=1))
        before_sums = _sums(batch, month_start, day)
        accounts = BillingStripeAccount.objects.in_bulk(batch)
        done = set(
            UsageReport.objects.filter(
                account_id__in=batch, day=day, status=UsageReportStatus.REPORTED
            ).values_list("account_id", flat=True)
        )
        for account_id in batch:
            counts["accounts"] += 1
            account = accounts.get(account_id)
            if account is None or account_id in done:
                counts["skipped"] += 1
                continue
            outcome = _report_one(
                account=account,
                day=day,
                used=day_sums.get(account_id, 0),
                before=before_sums.get(account_id, 0),
            )
            counts[outcome] += 1
    return counts


@transaction.atomic
def _report_one(*, account: BillingStripeAccount, day: date, used: int, before: int) -> str:
    identifier = usage_identifier(account.pk, day)
    report, _ = UsageReport.objects.get_or_create(
        account=account,
        day=day,
        defaults={"network_id": account.network_id, "identifier": identifier},
    )
    report = UsageReport.objects.select_for_update().get(pk=report.pk)
    if report.status == UsageReportStatus.REPORTED:
        return "skipped"
    allowance = account.included_ai_micros
    overage = max(0, before + used - allowance) - max(0, before - allowance)
    cents = -(-overage // MICROS_PER_CENT)
    credit_minor = 0
    if cents > 0 and account.credit_balance_minor > 0:
        entry, _ = credits.post_credit(
            account=account,
            amount_minor=-cents,
            kind=CreditKind.USAGE,
            idempotency_key=identifier,
            memo=f"AI usage past the allowance on {day.isoformat()}",
            up_to=True,
        )
        credit_minor = -entry.amount_minor if entry is not None else 0
    metered = cents - credit_minor
    report.usage_micros, report.overage_micros = used, overage
    report.credits_minor, report.metered_minor = credit_minor, metered
    if metered > 0 and account.stripe_customer_id:
        end_of_day = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        try:
            call(
                stripe_client().v1.billing.meter_events.create,
                {
                    "event_name": settings.STRIPE_METER_EVENT_NAME,
                    "identifier": identifier,
                    "timestamp": int(min(end_of_day, timezone.now()).timestamp()),
                    "payload": {"stripe_customer_id": account.stripe_customer_id, "value": str(metered)},
                },
                {"idempotency_key": identifier},
            )
        except StripeUnavailable as exc:
            report.status, report.error = UsageReportStatus.FAILED, exc.message
            report.save()
            return "failed"
    elif metered > 0:
        report.error = "no Stripe customer: overage recorded, not billed"
    report.status, report.reported_at = UsageReportStatus.REPORTED, timezone.now()
    report.save()
    AIUsageDaily.objects.filter(billing_account_id=account.pk, day=day, is_byok=False).update(
        reported_at=report.reported_at
    )
    return "reported"


def reconcile_subscriptions(*, batch_size: int = 100) -> dict[str, int]:
    """Re-read every mirrored subscription from Stripe and apply it (repairs missed events)."""
    from .stripe_events import apply_subscription

    counts = {"checked": 0, "repaired": 0, "failed": 0}
    last = None
    client = stripe_client()
    while True:
        qs = BillingStripeAccount.objects.filter(stripe_subscription_id__isnull=False).order_by("id")
        if last is not None:
            qs = qs.filter(id__gt=last)
        page = list(
            qs.values_list("id", "stripe_subscription_id", "subscription_status", "plan", "seats")[
                :batch_size
            ]
        )
        if not page:
            return counts
        for account_id, sub_id, status, plan, seats in page:
            counts["checked"] += 1
            try:
                sub = as_dict(call(client.v1.subscriptions.retrieve, sub_id))
            except StripeUnavailable:
                counts["failed"] += 1
                continue
            with transaction.atomic():
                apply_subscription(account_id=account_id, sub=sub, at=timezone.now())
            after = BillingStripeAccount.objects.filter(pk=account_id).values_list(
                "subscription_status", "plan", "seats"
            )[0]
            if after != (status, plan, seats):
                counts["repaired"] += 1
        last = page[-1][0]
