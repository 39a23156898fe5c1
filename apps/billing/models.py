"""Billing (SCHEMA.md §10).

Two halves in one app, each in its own section of this file:

* AI providers and usage (issue 12): ``AIProviderConfig`` (OpenAI-compatible
  endpoints, bring your own key), ``ModelPrice`` [global], ``AIUsage`` (one
  row per LLM call, cost in integer micro-dollars) and ``AIUsageDaily`` (the
  idempotent roll-up). Services: ``apps/billing/services/ai.py``; the LLM
  client: ``apps/billing/ai/``.
* Stripe (its own issue): billing accounts, subscriptions, webhooks.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.fields import EncryptedHintField, EncryptedTextField
from apps.core.models import BaseModel, NetworkScopedModel

# =============================================================================
# AI providers and usage (issue 12)
# =============================================================================


class ProviderScope(models.TextChoices):
    USER = "user"
    ORGANIZATION = "organization"
    NETWORK = "network"


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic (OpenAI-compatible endpoint)"
    OPENROUTER = "openrouter", "OpenRouter"
    AZURE_OPENAI = "azure_openai", "Azure OpenAI"
    GROQ = "groq", "Groq"
    TOGETHER = "together", "Together"
    MISTRAL = "mistral", "Mistral"
    OLLAMA = "ollama", "Ollama"
    CUSTOM = "custom", "Custom (OpenAI-compatible)"


class AIProviderConfig(NetworkScopedModel):
    """An OpenAI-compatible endpoint and its key, at user, organization or network level.

    User and organization configs are bring-your-own-key (BYOK: no platform
    metering, the config's own monthly budget); network configs hold the
    platform key (metered against the plan allowance).
    """

    Scope = ProviderScope
    Provider = ProviderKind
    organization_field = "owner_organization"

    scope = models.CharField(max_length=20, choices=ProviderScope.choices, default=ProviderScope.USER)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="ai_provider_configs",
    )
    owner_organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="ai_provider_configs",
    )
    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=20, choices=ProviderKind.choices, default=ProviderKind.OPENAI)
    base_url = models.URLField(
        max_length=500, help_text="OpenAI-compatible base URL, e.g. https://api.openai.com/v1"
    )
    api_key = EncryptedTextField(null=True, blank=True)
    api_key_hint = EncryptedHintField(source="api_key")
    #: JSON object of extra request headers, encrypted (they often carry credentials)
    extra_headers = EncryptedTextField(null=True, blank=True)
    extra_headers_hint = EncryptedHintField(source="extra_headers")
    default_model = models.CharField(max_length=200)
    #: empty = any model; otherwise the only models calls may use
    allowed_models = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    is_default = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    monthly_budget_micros = models.BigIntegerField(null=True, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    #: deleted while usage refers to it: kept for the history, key wiped, hidden
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="user", owner_user__isnull=False, owner_organization__isnull=True)
                    | Q(scope="organization", owner_user__isnull=True, owner_organization__isnull=False)
                    | Q(scope="network", owner_user__isnull=True, owner_organization__isnull=True)
                ),
                name="aiproviderconfig_owner_matches_scope",
            ),
            models.CheckConstraint(
                condition=Q(monthly_budget_micros__isnull=True) | Q(monthly_budget_micros__gte=0),
                name="aiproviderconfig_budget_nonnegative",
            ),
            models.UniqueConstraint(
                fields=["network", "scope", "owner_user", "owner_organization", "name"],
                condition=Q(deleted_at__isnull=True),
                nulls_distinct=False,
                name="aiproviderconfig_owner_name_live_uniq",
            ),
            models.UniqueConstraint(
                fields=["network", "scope", "owner_user", "owner_organization"],
                condition=Q(is_default=True),
                nulls_distinct=False,
                name="aiproviderconfig_one_default",
            ),
            choices_check("scope", ProviderScope, model="aiproviderconfig"),
            choices_check("provider", ProviderKind, model="aiproviderconfig"),
        ]
        indexes = [
            models.Index(fields=["owner_user", "-id"], name="aiproviderconfig_user"),
            models.Index(fields=["owner_organization", "-id"], name="aiproviderconfig_org"),
            models.Index(fields=["network", "scope", "-id"], name="aiproviderconfig_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope})"

    @property
    def is_byok(self) -> bool:
        return self.scope != ProviderScope.NETWORK

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


class ModelPrice(BaseModel):
    """[global] Price of a model per million tokens, in micro-dollars, from ``effective_at`` on."""

    provider = models.CharField(max_length=20, choices=ProviderKind.choices)
    model = models.CharField(max_length=200)
    input_per_mtok_micros = models.BigIntegerField()
    output_per_mtok_micros = models.BigIntegerField()
    cached_input_per_mtok_micros = models.BigIntegerField(default=0)
    effective_at = models.DateTimeField()

    class Meta:
        ordering = ("provider", "model", "-effective_at")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model", "effective_at"], name="modelprice_provider_model_at_uniq"
            ),
            models.CheckConstraint(
                condition=Q(input_per_mtok_micros__gte=0)
                & Q(output_per_mtok_micros__gte=0)
                & Q(cached_input_per_mtok_micros__gte=0),
                name="modelprice_nonnegative",
            ),
            choices_check("provider", ProviderKind, model="modelprice"),
        ]
        indexes = [models.Index(fields=["model", "-effective_at"], name="modelprice_model_at")]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_at:%Y-%m-%d}"


class AIFeature(models.TextChoices):
    CHAT = "chat"
    AGENT_RUN = "agent_run"
    SCHEDULED_TASK = "scheduled_task"
    SUMMARY = "summary"
    MEMORY = "memory"
    VERIFICATION = "verification"
    PROMPT_GUARD = "prompt_guard"
    API = "api"


class AIUsageStatus(models.TextChoices):
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


class AIUsage(NetworkScopedModel):
    """One LLM call that was sent (append-only); cost = ⌈tokens × price / 10⁶⌉ micro-dollars."""

    Feature = AIFeature
    Status = AIUsageStatus
    organization_field = "organization"

    #: the initiator; the agent itself on agent runs
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ai_usage")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # the BillingStripeAccount charged (null = BYOK or not billed); a FK once the Stripe half exists
    billing_account_id = models.UUIDField(null=True, blank=True)
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_config = models.ForeignKey(
        AIProviderConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="usage"
    )
    provider = models.CharField(max_length=20, choices=ProviderKind.choices)
    model = models.CharField(max_length=200)
    feature = models.CharField(max_length=20, choices=AIFeature.choices, default=AIFeature.CHAT)
    request_ref = models.CharField(max_length=200, null=True, blank=True)
    input_tokens = models.IntegerField(default=0)
    output_tokens = models.IntegerField(default=0)
    cached_input_tokens = models.IntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    is_byok = models.BooleanField(default=False)
    #: no ModelPrice was in effect: cost 0, flagged for staff
    price_missing = models.BooleanField(default=False)
    latency_ms = models.IntegerField(default=0)
    status = models.CharField(max_length=20, choices=AIUsageStatus.choices, default=AIUsageStatus.SUCCESS)
    error_code = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(input_tokens__gte=0)
                & Q(output_tokens__gte=0)
                & Q(cached_input_tokens__gte=0)
                & Q(cost_micros__gte=0)
                & Q(latency_ms__gte=0),
                name="aiusage_nonnegative",
            ),
            choices_check("provider", ProviderKind, model="aiusage"),
            choices_check("feature", AIFeature, model="aiusage"),
            choices_check("status", AIUsageStatus, model="aiusage"),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="aiusage_user_at"),
            models.Index(fields=["billing_account_id", "created_at"], name="aiusage_account_at"),
            models.Index(fields=["agent", "created_at"], name="aiusage_agent_at"),
            models.Index(fields=["organization", "created_at"], name="aiusage_org_at"),
            models.Index(fields=["provider_config", "created_at"], name="aiusage_config_at"),
            models.Index(fields=["user", "-id"], name="aiusage_user_id"),
            models.Index(fields=["organization", "-id"], name="aiusage_org_id"),
            models.Index(fields=["agent", "-id"], name="aiusage_agent_id"),
            models.Index(fields=["network", "-id"], name="aiusage_network_id"),
            BrinIndex(fields=["created_at"], name="aiusage_created_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.cost_micros}µ$ ({self.status})"


class AIUsageDaily(NetworkScopedModel):
    """Per day and key, the sums of AIUsage; rebuilt idempotently by ``rollup_ai_usage``."""

    organization_field = "organization"

    day = models.DateField()
    billing_account_id = models.UUIDField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    provider_config = models.ForeignKey(
        AIProviderConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    model = models.CharField(max_length=200)
    is_byok = models.BooleanField(default=False)
    calls = models.IntegerField(default=0)
    error_calls = models.IntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-day", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "network",
                    "day",
                    "billing_account_id",
                    "user",
                    "agent",
                    "organization",
                    "provider_config",
                    "model",
                    "is_byok",
                ],
                nulls_distinct=False,
                name="aiusagedaily_key_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "day"], name="aiusagedaily_user_day"),
            models.Index(fields=["organization", "day"], name="aiusagedaily_org_day"),
            models.Index(fields=["agent", "day"], name="aiusagedaily_agent_day"),
            models.Index(fields=["billing_account_id", "day"], name="aiusagedaily_account_day"),
            models.Index(fields=["provider_config", "day"], name="aiusagedaily_config_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.cost_micros}µ$"


# =============================================================================
# Stripe (billing issue) — below this line
# =============================================================================

from .stripe_models import (  # noqa: E402,F401 — the Stripe half lives in its own module
    BillingCheckoutSession,
    BillingInvoice,
    BillingPlan,
    BillingStripeAccount,
    CheckoutKind,
    CheckoutStatus,
    ConnectPayout,
    CreditKind,
    CreditLedgerEntry,
    PlanCode,
    SeatChange,
    SeatChangeStatus,
    StripeEvent,
    SubscriptionAccount,
    SubscriptionStatus,
    UsageReport,
    UsageReportStatus,
)
