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

Until billing accounts exist every platform call is allowed and unbilled.
"""

from __future__ import annotations

from typing import Any


def check_plan_allowance(
    *, user: Any, agent: Any = None, organization: Any = None, estimate_micros: int
) -> Any:
    return None
