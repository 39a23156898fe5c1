"""The organization/plan allowance check of platform-metered AI calls — ONE function.

INTERFACE (called by ``apps.billing.services.ai.complete`` before every call
that uses a network (platform) provider config; the Stripe half of billing
fills it in):

    check_plan_allowance(*, user, agent=None, organization=None, estimate_micros: int) -> UUID | None

Returns the id of the BillingStripeAccount the call is charged to (stored in
``AIUsage.billing_account_id``), or None when nothing is billed. Raises
``apps.billing.ai.errors.AIQuotaExceeded`` when month-to-date usage (the
``AIUsageDaily`` roll-up + today's usage) plus ``estimate_micros`` is past the
plan's ``included_ai_micros`` and the plan allows no overage.

The account is the organization's (the call's organization, else the agent's
owning organization) or else the user's own, opened lazily on the free plan.
Past the allowance a call is still allowed when the account's paid plan
allows overage (a live subscription: metered by ``report_usage``) or when it
holds prepaid credits (consumed by ``report_usage``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from ..ai.errors import AIQuotaExceeded


def check_plan_allowance(
    *, user: Any, agent: Any = None, organization: Any = None, estimate_micros: int
) -> Any:
    from ..models import AIUsage, AIUsageDaily, BillingPlan
    from .stripe_accounts import account_for

    organization_id = getattr(organization, "pk", organization)
    account = account_for(
        network_id=user.network_id,
        owner_user_id=None if organization_id else user.pk,
        owner_organization_id=organization_id,
    )
    now = timezone.now()
    day_start = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    month_start = day_start.replace(day=1)
    rolled = AIUsageDaily.objects.filter(
        billing_account_id=account.pk, is_byok=False, day__gte=month_start.date(), day__lt=day_start.date()
    ).aggregate(s=Sum("cost_micros"))["s"]
    today = AIUsage.objects.filter(
        billing_account_id=account.pk, is_byok=False, created_at__gte=day_start
    ).aggregate(s=Sum("cost_micros"))["s"]
    spent = int(rolled or 0) + int(today or 0)
    if spent + max(int(estimate_micros), 0) <= account.included_ai_micros:
        return account.pk
    if account.credit_balance_minor > 0:
        return account.pk
    if account.is_live and BillingPlan.objects.filter(code=account.plan, allows_overage=True).exists():
        return account.pk
    raise AIQuotaExceeded(
        "The AI allowance of this plan is used up for the month; upgrade or buy credits.",
        extra={"budget": "plan", "included_micros": account.included_ai_micros, "spent_micros": spent},
    )
