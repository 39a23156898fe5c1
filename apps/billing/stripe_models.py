"""Stripe billing models (SCHEMA.md §10, issue 14), imported by ``apps.billing.models``.

* ``BillingPlan`` [global]: the plans (free, pro, team, enterprise), their
  Stripe price, included AI allowance and seat rules. Editable by staff.
* ``BillingStripeAccount``: one per user or organization (OWNER), the Stripe
  customer (created lazily), the subscription mirror, seats, the Connect
  account for payouts, and the cached prepaid credit balance.
* ``CreditLedgerEntry``: the append-only credit ledger (integer cents); the
  account's ``credit_balance_minor`` is its cached sum, changed only under the
  account's row lock.
* ``BillingCheckoutSession``: our row for each Checkout session; its id is the
  Stripe idempotency key, so a retried request creates nothing twice.
* ``BillingInvoice``, ``ConnectPayout``: mirrors of Stripe objects, written by
  the webhook handlers.
* ``UsageReport``: one per account and day of reported AI overage
  (``usage:<account>:<day>``), the idempotency record of ``report_usage``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.models import BaseModel, InboundWebhook, NetworkScopedModel


class PlanCode(models.TextChoices):
    FREE = "free"
    PRO = "pro"
    TEAM = "team"
    ENTERPRISE = "enterprise"


class SubscriptionStatus(models.TextChoices):
    NONE = "none"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"


#: Stripe statuses we do not keep verbatim, mapped onto ours
STRIPE_STATUS_MAP = {
    "incomplete_expired": SubscriptionStatus.CANCELED,
    "paused": SubscriptionStatus.PAST_DUE,
}
#: statuses in which a paid plan's features (and overage) apply
LIVE_STATUSES = frozenset(
    {SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
)


class BillingPlan(BaseModel):
    """[global] A plan: its Stripe price (per seat when ``per_seat``) and what it includes."""

    code = models.CharField(max_length=20, choices=PlanCode.choices, unique=True)
    name = models.CharField(max_length=200)
    #: the recurring Stripe price (``price_…``); empty = not purchasable through Checkout
    stripe_price_id = models.CharField(max_length=64, blank=True, default="")
    per_seat = models.BooleanField(default=False)
    min_seats = models.PositiveIntegerField(default=1)
    max_seats = models.PositiveIntegerField(default=1)
    #: AI usage (platform key) included per month, micro-USD
    included_ai_micros = models.BigIntegerField(default=0)
    #: usage past the allowance is billed (metered) instead of refused
    allows_overage = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("position", "code")
        constraints = [
            choices_check("code", PlanCode, model="billingplan"),
            models.CheckConstraint(
                condition=Q(min_seats__gte=1) & Q(max_seats__gte=models.F("min_seats")),
                name="billingplan_seats_range",
            ),
            models.CheckConstraint(
                condition=Q(included_ai_micros__gte=0), name="billingplan_allowance_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.code


class BillingStripeAccount(NetworkScopedModel):
    """The Stripe side of a user or an organization (exactly one owner)."""

    Plan = PlanCode
    Status = SubscriptionStatus
    organization_field = "owner_organization"

    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="billing_accounts",
    )
    owner_organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="billing_accounts",
    )
    #: [global] created lazily, on the first Checkout/Portal/Connect call
    stripe_customer_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_subscription_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    plan = models.CharField(max_length=20, choices=PlanCode.choices, default=PlanCode.FREE)
    subscription_status = models.CharField(
        max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.NONE
    )
    current_period_end_at = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    seats = models.PositiveIntegerField(default=1)
    payment_method_hint = models.CharField(max_length=40, null=True, blank=True)
    billing_email = models.EmailField(null=True, blank=True)
    included_ai_micros = models.BigIntegerField(default=0)
    #: Stripe time (``event.created``) of the subscription state applied last: older events never regress it
    subscription_synced_at = models.DateTimeField(null=True, blank=True)
    # --- Connect (bounty payouts) ---
    stripe_connect_account_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    connect_charges_enabled = models.BooleanField(default=False)
    connect_payouts_enabled = models.BooleanField(default=False)
    connect_details_submitted = models.BooleanField(default=False)
    connect_requirements_due = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    connect_synced_at = models.DateTimeField(null=True, blank=True)
    # --- prepaid credits (cached sum of CreditLedgerEntry, changed under this row's lock) ---
    credit_balance_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    #: active human members counted at the last seat sync (organizations only)
    seats_used = models.PositiveIntegerField(default=0)
    seats_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(owner_user__isnull=False, owner_organization__isnull=True)
                | Q(owner_user__isnull=True, owner_organization__isnull=False),
                name="billingstripeaccount_one_owner",
            ),
            models.UniqueConstraint(
                fields=["network", "owner_user"],
                condition=Q(owner_user__isnull=False),
                name="billingstripeaccount_user_uniq",
            ),
            models.UniqueConstraint(
                fields=["network", "owner_organization"],
                condition=Q(owner_organization__isnull=False),
                name="billingstripeaccount_org_uniq",
            ),
            models.CheckConstraint(condition=Q(seats__gte=1), name="billingstripeaccount_seats_positive"),
            models.CheckConstraint(
                condition=Q(credit_balance_minor__gte=0), name="billingstripeaccount_credits_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(included_ai_micros__gte=0), name="billingstripeaccount_allowance_nonneg"
            ),
            choices_check("plan", PlanCode, model="billingstripeaccount"),
            choices_check("subscription_status", SubscriptionStatus, model="billingstripeaccount"),
        ]
        indexes = [
            models.Index(fields=["network", "-id"], name="billingacct_network_id"),
            models.Index(fields=["subscription_status", "-id"], name="billingacct_status_id"),
        ]

    def __str__(self) -> str:
        owner = self.owner_organization_id or self.owner_user_id
        return f"billing account of {owner} ({self.plan})"

    @property
    def owner(self):
        return self.owner_organization if self.owner_organization_id else self.owner_user

    @property
    def is_live(self) -> bool:
        return self.plan != PlanCode.FREE and self.subscription_status in LIVE_STATUSES


class SubscriptionAccount(BillingStripeAccount):
    """Proxy for the admin's subscription screen (accounts that have a Stripe subscription)."""

    class Meta:
        proxy = True
        verbose_name = "subscription"
        verbose_name_plural = "subscriptions"


class CreditKind(models.TextChoices):
    TOPUP = "topup"
    USAGE = "usage"
    ADJUSTMENT = "adjustment"
    REFUND = "refund"


class CreditLedgerEntry(NetworkScopedModel):
    """One immutable movement of prepaid credit (integer cents; + in, − out)."""

    Kind = CreditKind
    organization_field = "account__owner_organization"

    account = models.ForeignKey(BillingStripeAccount, on_delete=models.PROTECT, related_name="credit_entries")
    kind = models.CharField(max_length=20, choices=CreditKind.choices, default=CreditKind.TOPUP)
    amount_minor = models.BigIntegerField()
    balance_after_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    #: ``checkout:<session>``, ``usage:<account>:<day>``, ``adjust:<uuid>``: a replay finds the row
    idempotency_key = models.CharField(max_length=200)
    external_ref = models.CharField(max_length=200, blank=True, default="")
    memo = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        verbose_name_plural = "credit ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["network", "idempotency_key"], name="creditledger_key_uniq"),
            models.CheckConstraint(condition=~Q(amount_minor=0), name="creditledger_amount_nonzero"),
            models.CheckConstraint(
                condition=Q(balance_after_minor__gte=0), name="creditledger_balance_nonneg"
            ),
            choices_check("kind", CreditKind, model="creditledgerentry"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="creditledger_account_id")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_minor:+d} → {self.balance_after_minor}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("credit ledger entries are immutable")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("credit ledger entries are immutable")


class CheckoutKind(models.TextChoices):
    SUBSCRIPTION = "subscription"
    CREDITS = "credits"


class CheckoutStatus(models.TextChoices):
    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"


class BillingCheckoutSession(NetworkScopedModel):
    """Our row of one Stripe Checkout session (its id keys the Stripe create call)."""

    Kind = CheckoutKind
    Status = CheckoutStatus
    organization_field = "account__owner_organization"

    account = models.ForeignKey(
        BillingStripeAccount, on_delete=models.CASCADE, related_name="checkout_sessions"
    )
    kind = models.CharField(max_length=20, choices=CheckoutKind.choices, default=CheckoutKind.SUBSCRIPTION)
    plan = models.CharField(max_length=20, choices=PlanCode.choices, null=True, blank=True)
    seats = models.PositiveIntegerField(default=1)
    amount_minor = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=CheckoutStatus.choices, default=CheckoutStatus.OPEN)
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    url = models.URLField(max_length=2000, blank=True, default="")
    #: the client's ``Idempotency-Key`` (a retried request finds this row)
    client_key = models.CharField(max_length=200, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["account", "created_by", "client_key"],
                condition=Q(client_key__isnull=False),
                name="billingcheckout_client_key_uniq",
            ),
            models.CheckConstraint(condition=Q(seats__gte=1), name="billingcheckout_seats_positive"),
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="billingcheckout_amount_nonneg"),
            models.CheckConstraint(
                condition=Q(kind="subscription", plan__isnull=False) | Q(kind="credits", amount_minor__gt=0),
                name="billingcheckout_kind_shape",
            ),
            choices_check("kind", CheckoutKind, model="billingcheckoutsession"),
            choices_check("status", CheckoutStatus, model="billingcheckoutsession"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="billingcheckout_account_id")]

    def __str__(self) -> str:
        return f"checkout {self.kind} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return f"checkout:{self.pk}"


class BillingInvoice(NetworkScopedModel):
    """Mirror of a Stripe invoice (written by ``invoice.*`` events)."""

    organization_field = "account__owner_organization"

    account = models.ForeignKey(BillingStripeAccount, on_delete=models.CASCADE, related_name="invoices")
    stripe_invoice_id = models.CharField(max_length=64, unique=True)
    number = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=20, blank=True, default="")
    amount_due_minor = models.BigIntegerField(default=0)
    amount_paid_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    hosted_invoice_url = models.URLField(max_length=2000, blank=True, default="")
    period_start_at = models.DateTimeField(null=True, blank=True)
    period_end_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    #: Stripe time of the event applied last (out-of-order events never regress it)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["account", "-id"], name="billinginvoice_account_id")]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id


class ConnectPayout(NetworkScopedModel):
    """Mirror of a payout of a Connect account (``payout.paid`` / ``payout.failed``)."""

    organization_field = "account__owner_organization"

    account = models.ForeignKey(BillingStripeAccount, on_delete=models.CASCADE, related_name="payouts")
    stripe_payout_id = models.CharField(max_length=64, unique=True)
    amount_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(max_length=20, blank=True, default="")
    failure_code = models.CharField(max_length=200, blank=True, default="")
    arrival_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["account", "-id"], name="connectpayout_account_id")]

    def __str__(self) -> str:
        return f"{self.stripe_payout_id} {self.status}"


class UsageReportStatus(models.TextChoices):
    PENDING = "pending"
    REPORTED = "reported"
    FAILED = "failed"


class UsageReport(NetworkScopedModel):
    """One account-day of platform AI usage past the allowance: credits consumed, the rest metered."""

    Status = UsageReportStatus
    organization_field = "account__owner_organization"

    account = models.ForeignKey(BillingStripeAccount, on_delete=models.CASCADE, related_name="usage_reports")
    day = models.DateField()
    usage_micros = models.BigIntegerField(default=0)
    overage_micros = models.BigIntegerField(default=0)
    credits_minor = models.BigIntegerField(default=0)
    metered_minor = models.BigIntegerField(default=0)
    #: ``usage:<account>:<day>`` — the Stripe meter event identifier
    identifier = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=20, choices=UsageReportStatus.choices, default=UsageReportStatus.PENDING
    )
    error = models.TextField(blank=True, default="")
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-day", "-id")
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="usagereport_account_day_uniq"),
            models.CheckConstraint(
                condition=Q(usage_micros__gte=0)
                & Q(overage_micros__gte=0)
                & Q(credits_minor__gte=0)
                & Q(metered_minor__gte=0),
                name="usagereport_nonneg",
            ),
            choices_check("status", UsageReportStatus, model="usagereport"),
        ]
        indexes = [models.Index(fields=["status", "day"], name="usagereport_status_day")]

    def __str__(self) -> str:
        return self.identifier


class SeatChangeStatus(models.TextChoices):
    PENDING = "pending"
    APPLIED = "applied"
    SUPERSEDED = "superseded"
    FAILED = "failed"


class SeatChange(NetworkScopedModel):
    """One requested change of a per-seat subscription's quantity, pushed to Stripe by a task.

    The account's ``seats`` moves only to what Stripe answers; ``idempotency_key``
    (``seats:<row>:<quantity>``) makes a retried push change nothing twice.
    """

    Status = SeatChangeStatus
    organization_field = "account__owner_organization"

    account = models.ForeignKey(BillingStripeAccount, on_delete=models.CASCADE, related_name="seat_changes")
    quantity = models.PositiveIntegerField()
    previous_seats = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=SeatChangeStatus.choices, default=SeatChangeStatus.PENDING
    )
    #: the quantity Stripe answered with (mirrored onto the account)
    stripe_quantity = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    #: the client's ``Idempotency-Key`` (a retried request finds this row)
    client_key = models.CharField(max_length=200, null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["account", "requested_by", "client_key"],
                condition=Q(client_key__isnull=False),
                name="seatchange_client_key_uniq",
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="seatchange_quantity_positive"),
            choices_check("status", SeatChangeStatus, model="seatchange"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="seatchange_account_id")]

    def __str__(self) -> str:
        return f"seats {self.previous_seats} → {self.quantity} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"seats:{self.pk}:{self.quantity}"


class StripeEvent(InboundWebhook):
    """Proxy of core's InboundWebhook rows from Stripe, for the billing admin (payload, reprocess)."""

    class Meta:
        proxy = True
        verbose_name = "Stripe event"
        verbose_name_plural = "Stripe events"
