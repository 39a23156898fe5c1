"""Metered LLM calls: provider resolution, prices, budgets, usage, the daily roll-up.

``complete`` is the one way any domain calls an LLM:

1. resolve the provider (the agent's config → the user's default (BYOK) →
   the organization's default (BYOK) → the network default (platform key)),
   disabled configs skipped; the model must be allowed by that config;
2. estimate the call's cost (prompt ≈ characters / 4, output = max_tokens)
   and refuse it before anything is sent (``AIQuotaExceeded``, 402
   ``ai_quota_exceeded``) when it would exceed the agent's daily budget, the
   BYOK config's monthly budget, or — platform calls — the plan allowance
   (``allowance.check_plan_allowance``);
3. send it through the SDK client (``apps.billing.ai.client``);
4. record one ``AIUsage`` row — also when the provider failed, timed out or
   answered garbage (status ``error``, its ``error_code``): a call that was
   sent is always on record. Cost = ⌈((in − cached) × p_in + cached × p_cached
   + out × p_out) / 10⁶⌉ micro-dollars at the price in effect (no price → 0,
   ``price_missing``).

Budgets are enforced with Redis reservations (``_reserve``): the estimate
is added to the day's / month's counter atomically when it fits, and
replaced by the real cost once the call is recorded, so concurrent calls
cannot overrun a budget together. A missing counter is rebuilt from
PostgreSQL (the truth); counters expire after their period.

Call ``complete`` outside an open transaction: the usage row commits on its
own so that a caller's rollback never erases a call that was sent.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.core.ids import uuid7
from apps.core.redis import Script, get_redis, key

from ..ai import client
from ..ai.endpoint import Endpoint
from ..ai.errors import AIQuotaExceeded, ModelNotAllowed, ProviderError, ProviderNotConfigured
from ..models import AIProviderConfig, AIUsage, AIUsageDaily, ModelPrice, ProviderScope
from . import allowance

logger = logging.getLogger(__name__)

MICROS = 1_000_000


# --- resolution ----------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    config: AIProviderConfig
    model: str

    def endpoint(self) -> Endpoint:
        headers: dict[str, str] = {}
        raw = self.config.extra_headers
        if raw:
            try:
                headers = {str(k): str(v) for k, v in json.loads(raw).items()}
            except (ValueError, AttributeError):
                logger.warning("AI provider config %s: unreadable extra headers ignored", self.config.pk)
        return Endpoint(
            base_url=self.config.base_url,
            api_key=self.config.api_key or "",
            provider=self.config.provider,
            headers=headers,
            allow_private=self.config.scope == ProviderScope.NETWORK,
        )


def resolve_provider(
    *,
    user: Any,
    agent: Any = None,
    organization: Any = None,
    model: str | None = None,
    config: AIProviderConfig | None = None,
) -> Resolved:
    """The config and model a call uses (one query); raises when none or not allowed."""
    if config is None:
        if agent is not None:
            owner_user_id = agent.agent_owner_user_id
            owner_org_id = agent.agent_owner_organization_id
        else:
            owner_user_id = user.pk
            owner_org_id = getattr(organization, "pk", organization)
        candidates = Q(scope=ProviderScope.NETWORK, is_default=True)
        if owner_user_id:
            candidates |= Q(scope=ProviderScope.USER, owner_user_id=owner_user_id, is_default=True)
        if owner_org_id:
            candidates |= Q(
                scope=ProviderScope.ORGANIZATION, owner_organization_id=owner_org_id, is_default=True
            )
        agent_config_id = getattr(agent, "agent_provider_config_id", None)
        if agent_config_id:
            candidates |= Q(pk=agent_config_id)
        rows = list(
            AIProviderConfig.objects.filter(candidates, network_id=user.network_id, enabled=True).order_by(
                "pk"
            )
        )

        def rank(row: AIProviderConfig) -> int:
            if row.pk == agent_config_id:
                return 0
            return {ProviderScope.USER: 1, ProviderScope.ORGANIZATION: 2, ProviderScope.NETWORK: 3}[row.scope]

        config = min(rows, key=rank) if rows else None
    if config is None or not config.enabled:
        raise ProviderNotConfigured()
    chosen = (
        model or (getattr(agent, "agent_model", None) if agent is not None else None) or config.default_model
    )
    if not config.allows_model(chosen):
        raise ModelNotAllowed(f"The model {chosen!r} is not allowed by {config.name!r}.", field="model")
    return Resolved(config=config, model=chosen)


# --- prices --------------------------------------------------------------------


def price_for(*, provider: str, model: str, at: datetime | None = None) -> ModelPrice | None:
    """The price in effect at ``at``: this provider's, else any provider's price of the model."""
    at = at or timezone.now()
    rows = list(ModelPrice.objects.filter(model=model, effective_at__lte=at).order_by("-effective_at")[:20])
    exact = [row for row in rows if row.provider == provider]
    return (exact or rows or [None])[0]


def cost_micros(
    price: ModelPrice | None, *, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
) -> int:
    """⌈tokens × price per million / 10⁶⌉ in integer micro-dollars (prices are per 10⁶ tokens)."""
    if price is None:
        return 0
    cached = min(max(cached_input_tokens, 0), max(input_tokens, 0))
    numerator = (
        (max(input_tokens, 0) - cached) * price.input_per_mtok_micros
        + cached * price.cached_input_per_mtok_micros
        + max(output_tokens, 0) * price.output_per_mtok_micros
    )
    return -(-numerator // MICROS)


def estimate_input_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    chars = sum(len(str(m.get("content") or "")) + 8 for m in messages)
    if tools:
        chars += len(json.dumps(tools))
    return math.ceil(chars / 4)


# --- budgets (Redis reservations over PostgreSQL sums) -----------------------------

_RESERVE = Script(
    """
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
if tonumber(v) + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return -2 end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
"""
)
_ADJUST = Script(
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end return false"
)


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def _month_start(now: datetime) -> datetime:
    return _day_start(now).replace(day=1)


def agent_spend_key(agent_id: Any, now: datetime | None = None) -> str:
    return key("ai", "spend", "agent", agent_id, _day_start(now or timezone.now()).date().isoformat())


def config_spend_key(config_id: Any, now: datetime | None = None) -> str:
    return key("ai", "spend", "config", config_id, _month_start(now or timezone.now()).strftime("%Y-%m"))


def agent_spent_today(agent: Any, *, now: datetime | None = None) -> int:
    """Micro-dollars the agent's calls cost today (UTC), from PostgreSQL."""
    start = _day_start(now or timezone.now())
    total = AIUsage.objects.filter(agent_id=agent.pk, created_at__gte=start).aggregate(s=Sum("cost_micros"))[
        "s"
    ]
    return int(total or 0)


def config_spent_this_month(config: Any, *, now: datetime | None = None) -> int:
    start = _month_start(now or timezone.now())
    total = AIUsage.objects.filter(provider_config_id=config.pk, created_at__gte=start).aggregate(
        s=Sum("cost_micros")
    )["s"]
    return int(total or 0)


@dataclass
class _Reservation:
    key: str
    amount: int


def _reserve(
    counter: str, *, amount: int, budget: int, load: Any, ttl: int, message: str, which: str
) -> _Reservation:
    for _attempt in range(2):
        outcome = int(_RESERVE([counter], [amount, budget]))
        if outcome == 1:
            return _Reservation(counter, amount)
        if outcome == -2:
            raise AIQuotaExceeded(message, extra={"budget": which})
        get_redis().set(counter, load(), nx=True, ex=ttl)
    raise AIQuotaExceeded(message, extra={"budget": which})  # pragma: no cover — counter vanished twice


def _adjust(reservations: list[_Reservation], actual: int) -> None:
    for reservation in reservations:
        delta = actual - reservation.amount
        if delta:
            _ADJUST([reservation.key], [delta])


# --- the metered call ------------------------------------------------------------


@dataclass
class Completion:
    result: client.ChatResult
    usage: AIUsage
    model: str
    config: AIProviderConfig = field(repr=False)


def _record(
    *,
    resolved: Resolved,
    user: Any,
    agent: Any,
    organization_id: Any,
    project: Any,
    feature: str,
    request_ref: str | None,
    billing_account_id: Any,
    price: ModelPrice | None,
    result: client.ChatResult | None,
    latency_ms: int,
    error_code: str | None,
) -> AIUsage:
    input_tokens = result.input_tokens if result else 0
    output_tokens = result.output_tokens if result else 0
    cached = result.cached_input_tokens if result else 0
    with transaction.atomic():
        return AIUsage.objects.create(
            network_id=user.network_id,
            user=user,
            agent=agent,
            organization_id=organization_id,
            billing_account_id=billing_account_id,
            project=project,
            provider_config=resolved.config,
            provider=resolved.config.provider,
            model=resolved.model[:200],
            feature=feature,
            request_ref=(request_ref or "")[:200] or None,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cost_micros=cost_micros(
                price, input_tokens=input_tokens, output_tokens=output_tokens, cached_input_tokens=cached
            ),
            is_byok=resolved.config.is_byok,
            price_missing=price is None,
            latency_ms=max(0, latency_ms),
            status=AIUsage.Status.SUCCESS if error_code is None else AIUsage.Status.ERROR,
            error_code=error_code,
        )


def complete(
    *,
    user: Any,
    messages: list[dict[str, Any]],
    feature: str,
    agent: Any = None,
    project: Any = None,
    organization: Any = None,
    model: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    stream: bool = False,
    request_ref: str | None = None,
    config: AIProviderConfig | None = None,
) -> Completion:
    """One metered chat completion (see the module docstring). ``user`` is the initiator
    (the agent itself on agent runs). Raises ``AIQuotaExceeded`` before sending, or
    ``ProviderError`` (with ``.usage`` set) after."""
    resolved = resolve_provider(user=user, agent=agent, organization=organization, model=model, config=config)
    cfg = resolved.config
    if max_tokens is None:
        max_tokens = getattr(agent, "agent_max_output_tokens", None) or settings.AI_DEFAULT_MAX_OUTPUT_TOKENS
    price = price_for(provider=cfg.provider, model=resolved.model)
    estimate = cost_micros(
        price, input_tokens=estimate_input_tokens(messages, tools), output_tokens=max_tokens
    )
    organization_id = getattr(organization, "pk", organization)
    if organization_id is None and agent is not None:
        organization_id = agent.agent_owner_organization_id
    if organization_id is None and cfg.scope == ProviderScope.ORGANIZATION:
        organization_id = cfg.owner_organization_id

    reservations: list[_Reservation] = []
    billing_account_id = None
    try:
        budget = getattr(agent, "agent_daily_budget_micros", None) if agent is not None else None
        if budget is not None:
            reservations.append(
                _reserve(
                    agent_spend_key(agent.pk),
                    amount=estimate,
                    budget=budget,
                    load=lambda: agent_spent_today(agent),
                    ttl=2 * 86400,
                    message="The agent's daily AI budget is used up.",
                    which="agent_daily",
                )
            )
        if cfg.is_byok and cfg.monthly_budget_micros is not None:
            reservations.append(
                _reserve(
                    config_spend_key(cfg.pk),
                    amount=estimate,
                    budget=cfg.monthly_budget_micros,
                    load=lambda: config_spent_this_month(cfg),
                    ttl=32 * 86400,
                    message=f"The monthly budget of {cfg.name!r} is used up.",
                    which="provider_monthly",
                )
            )
        if not cfg.is_byok:
            billing_account_id = allowance.check_plan_allowance(
                user=user, agent=agent, organization=organization_id, estimate_micros=estimate
            )
    except AIQuotaExceeded:
        _adjust(reservations, 0)
        raise

    record = {
        "resolved": resolved,
        "user": user,
        "agent": agent,
        "organization_id": organization_id,
        "project": project,
        "feature": feature,
        "request_ref": request_ref,
        "billing_account_id": billing_account_id,
        "price": price,
    }
    started = timezone.now()
    try:
        result = client.chat(
            resolved.endpoint(),
            model=resolved.model,
            messages=messages,
            tools=tools,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
        )
    except ProviderError as exc:
        latency = int((timezone.now() - started).total_seconds() * 1000)
        usage = _record(**record, result=None, latency_ms=latency, error_code=exc.reason[:200])
        _adjust(reservations, 0)
        exc.usage = usage  # type: ignore[attr-defined]
        raise
    except BaseException:
        _adjust(reservations, 0)
        raise
    usage = _record(**record, result=result, latency_ms=result.latency_ms, error_code=None)
    _adjust(reservations, usage.cost_micros)
    return Completion(result=result, usage=usage, model=resolved.model, config=cfg)


# --- daily roll-up -------------------------------------------------------------

_KEYS = (
    "network_id",
    "billing_account_id",
    "user_id",
    "agent_id",
    "organization_id",
    "provider_config_id",
    "model",
    "is_byok",
)

_UPSERT = """
INSERT INTO {daily} (id, created_at, updated_at, network_id, day, billing_account_id, user_id, agent_id,
                     organization_id, provider_config_id, model, is_byok, calls, error_calls,
                     input_tokens, output_tokens, cached_input_tokens, cost_micros)
SELECT v.id, now(), now(), v.network_id, v.day, v.billing_account_id, v.user_id, v.agent_id,
       v.organization_id, v.provider_config_id, v.model, v.is_byok, v.calls, v.error_calls,
       v.input_tokens, v.output_tokens, v.cached_input_tokens, v.cost_micros
FROM unnest(%s::uuid[], %s::uuid[], %s::date[], %s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[],
            %s::varchar[], %s::bool[], %s::int[], %s::int[], %s::int8[], %s::int8[], %s::int8[], %s::int8[])
     AS v(id, network_id, day, billing_account_id, user_id, agent_id, organization_id, provider_config_id,
          model, is_byok, calls, error_calls, input_tokens, output_tokens, cached_input_tokens, cost_micros)
ON CONFLICT ON CONSTRAINT aiusagedaily_key_uniq DO UPDATE SET
    calls = excluded.calls,
    error_calls = excluded.error_calls,
    input_tokens = excluded.input_tokens,
    output_tokens = excluded.output_tokens,
    cached_input_tokens = excluded.cached_input_tokens,
    cost_micros = excluded.cost_micros,
    updated_at = excluded.updated_at
WHERE ({daily}.calls, {daily}.cost_micros, {daily}.input_tokens, {daily}.output_tokens)
      IS DISTINCT FROM (excluded.calls, excluded.cost_micros, excluded.input_tokens, excluded.output_tokens)
"""


def rollup_ai_usage(*, days: list[date] | None = None) -> int:
    """Rebuild AIUsageDaily for ``days`` (default: yesterday and today, UTC) from AIUsage.

    Idempotent: each key's row is set to the sums (not added to), so running
    twice, or concurrently, gives the same rows. Returns the keys written.
    """
    today = timezone.now().astimezone(UTC).date()
    days = days or [today - timedelta(days=1), today]
    columns: list[list[Any]] = [[] for _ in range(16)]
    for day in days:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        groups = (
            AIUsage.objects.filter(created_at__gte=start, created_at__lt=start + timedelta(days=1))
            .values(*_KEYS)
            .annotate(
                calls=Count("id"),
                error_calls=Count("id", filter=Q(status=AIUsage.Status.ERROR)),
                input_tokens=Sum("input_tokens"),
                output_tokens=Sum("output_tokens"),
                cached_input_tokens=Sum("cached_input_tokens"),
                cost_micros=Sum("cost_micros"),
            )
            .order_by()
        )
        for g in groups:
            values = [
                uuid7(),
                g["network_id"],
                day,
                g["billing_account_id"],
                g["user_id"],
                g["agent_id"],
                g["organization_id"],
                g["provider_config_id"],
                g["model"],
                g["is_byok"],
                g["calls"],
                g["error_calls"],
                g["input_tokens"] or 0,
                g["output_tokens"] or 0,
                g["cached_input_tokens"] or 0,
                g["cost_micros"] or 0,
            ]
            for column, value in zip(columns, values, strict=True):
                column.append(value)
    if not columns[0]:
        return 0
    sql = _UPSERT.format(daily=AIUsageDaily._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, columns)
    return len(columns[0])
