"""Metered calls: resolution order, integer costs, usage on failure, budgets refused before sending."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.billing.ai.errors import AIQuotaExceeded, ModelNotAllowed, ProviderError, ProviderNotConfigured
from apps.billing.models import AIUsage
from apps.billing.services import ai
from tests.accounts.factories import AgentFactory, UserFactory
from tests.llm_server import Reply
from tests.organizations.factories import OrganizationFactory

from .factories import AIProviderConfigFactory, ModelPriceFactory, NetworkProviderConfigFactory

pytestmark = pytest.mark.django_db
PING = [{"role": "user", "content": "ping"}]


@pytest.fixture
def config(user, llm_server):
    return AIProviderConfigFactory(owner_user=user, base_url=llm_server.url)


def test_cost_is_integer_micro_dollars_rounded_up():
    price = ModelPriceFactory.build(input_per_mtok_micros=2_500_000, output_per_mtok_micros=10_000_000)
    assert ai.cost_micros(price, input_tokens=1, output_tokens=0) == 3  # 2.5 µ$ → 3
    assert ai.cost_micros(price, input_tokens=1000, output_tokens=500) == 2500 + 5000
    # cached tokens are part of the prompt and cost the cached price
    assert ai.cost_micros(price, input_tokens=1000, output_tokens=0, cached_input_tokens=400) == 1500 + 500
    assert ai.cost_micros(None, input_tokens=10**6, output_tokens=10**6) == 0


def test_price_in_effect_is_used():
    ModelPriceFactory(effective_at=timezone.now() - timedelta(days=10), input_per_mtok_micros=1)
    current = ModelPriceFactory(effective_at=timezone.now() - timedelta(days=1), input_per_mtok_micros=2)
    ModelPriceFactory(effective_at=timezone.now() + timedelta(days=1), input_per_mtok_micros=3)
    assert ai.price_for(provider="openai", model="gpt-test") == current


def test_complete_records_usage_with_cost(user, config, llm_server):
    ModelPriceFactory()
    llm_server.enqueue(Reply(content="pong", usage=(1000, 200, 0)))
    done = ai.complete(user=user, messages=PING, feature="api", request_ref="r1")
    usage = done.usage
    assert done.result.content == "pong"
    assert (usage.input_tokens, usage.output_tokens, usage.cost_micros) == (1000, 200, 2500 + 2000)
    assert usage.is_byok and usage.provider_config == config and usage.status == "success"
    assert usage.network_id == user.network_id and not usage.price_missing


def test_unknown_model_costs_nothing_and_is_flagged(user, config):
    usage = ai.complete(user=user, messages=PING, feature="api").usage
    assert usage.cost_micros == 0 and usage.price_missing


@pytest.mark.parametrize("model", ["error-500", "malformed"])
def test_failed_call_is_still_recorded(user, llm_server, model):
    AIProviderConfigFactory(owner_user=user, base_url=llm_server.url, default_model=model)
    with pytest.raises(ProviderError) as caught:
        ai.complete(user=user, messages=PING, feature="api")
    usage = AIUsage.objects.get()
    assert usage.status == "error" and usage.error_code == caught.value.reason
    assert caught.value.usage == usage


def test_timeout_is_recorded_as_error(user, llm_server, settings):
    settings.AI_PROVIDER_TIMEOUT_SECONDS = 0.3
    AIProviderConfigFactory(owner_user=user, base_url=llm_server.url, default_model="slow-3")
    with pytest.raises(ProviderError):
        ai.complete(user=user, messages=PING, feature="api")
    assert AIUsage.objects.get().error_code == "timeout"


def test_resolution_prefers_agent_then_owner_then_org_then_network(network, llm_server):
    owner = UserFactory(network=network)
    org = OrganizationFactory(network=network)
    network_cfg = NetworkProviderConfigFactory(network=network, base_url=llm_server.url, name="net")
    org_cfg = AIProviderConfigFactory(
        scope="organization", owner_user=None, owner_organization=org, base_url=llm_server.url, name="org"
    )
    user_cfg = AIProviderConfigFactory(owner_user=owner, base_url=llm_server.url, name="mine")
    own_agent = AgentFactory(network=network, agent_owner_user=owner)
    org_agent = AgentFactory(network=network, agent_owner_user=None, agent_owner_organization=org)
    stranger = UserFactory(network=network)
    assert ai.resolve_provider(user=own_agent, agent=own_agent).config == user_cfg
    assert ai.resolve_provider(user=org_agent, agent=org_agent).config == org_cfg
    assert ai.resolve_provider(user=stranger).config == network_cfg
    assert ai.resolve_provider(user=stranger, organization=org).config == org_cfg
    pinned = AIProviderConfigFactory(
        owner_user=owner, base_url=llm_server.url, name="pinned", is_default=False
    )
    own_agent.agent_provider_config = pinned
    assert ai.resolve_provider(user=own_agent, agent=own_agent).config == pinned
    user_cfg.enabled = False
    user_cfg.save()
    assert ai.resolve_provider(user=owner).config == network_cfg


def test_no_provider_is_a_conflict(user):
    with pytest.raises(ProviderNotConfigured):
        ai.resolve_provider(user=user)


def test_disallowed_model_is_refused_before_sending(user, llm_server):
    AIProviderConfigFactory(owner_user=user, base_url=llm_server.url, allowed_models=["gpt-test"])
    with pytest.raises(ModelNotAllowed):
        ai.complete(user=user, messages=PING, feature="api", model="gpt-other")
    assert llm_server.calls == 0 and not AIUsage.objects.exists()


def test_agent_daily_budget_refuses_before_sending(network, llm_server):
    ModelPriceFactory()
    agent = AgentFactory(network=network, agent_daily_budget_micros=4000, agent_max_output_tokens=100)
    AIProviderConfigFactory(owner_user=agent.agent_owner_user, base_url=llm_server.url)
    llm_server.enqueue(Reply(usage=(1000, 100, 0)))  # 2500 + 1000 = 3500 µ$
    ai.complete(user=agent, agent=agent, messages=PING, feature="agent_run")
    with pytest.raises(AIQuotaExceeded) as caught:  # 3500 spent + estimate ≈ 1008 > 4000
        ai.complete(user=agent, agent=agent, messages=PING, feature="agent_run")
    assert caught.value.status_code == 402 and caught.value.code == "ai_quota_exceeded"
    assert caught.value.extra["budget"] == "agent_daily"
    assert llm_server.calls == 1 and AIUsage.objects.count() == 1


def test_budget_counter_is_rebuilt_from_the_database(network, llm_server):
    """Redis lost the counter (flush, eviction): PostgreSQL's sum is the truth."""
    from apps.core.redis import get_redis

    ModelPriceFactory()
    agent = AgentFactory(network=network, agent_daily_budget_micros=4000, agent_max_output_tokens=10)
    config = AIProviderConfigFactory(owner_user=agent.agent_owner_user, base_url=llm_server.url)
    AIUsage.objects.create(
        network=network, user=agent, agent=agent, provider="openai", model="gpt-test", cost_micros=3990,
        provider_config=config,
    )  # fmt: skip
    get_redis().flushdb()
    with pytest.raises(AIQuotaExceeded):
        ai.complete(user=agent, agent=agent, messages=PING, feature="agent_run")
    assert llm_server.calls == 0


def test_byok_monthly_budget_refuses(user, llm_server):
    ModelPriceFactory()
    AIProviderConfigFactory(owner_user=user, base_url=llm_server.url, monthly_budget_micros=100)
    with pytest.raises(AIQuotaExceeded) as caught:
        ai.complete(user=user, messages=PING, feature="api", max_tokens=1000)  # estimate 10 000 µ$
    assert caught.value.extra["budget"] == "provider_monthly" and llm_server.calls == 0


def test_refused_reservation_is_released(network, llm_server):
    """A call refused by one budget does not keep the other budget's reservation."""
    ModelPriceFactory()
    agent = AgentFactory(network=network, agent_daily_budget_micros=10**9, agent_max_output_tokens=1000)
    AIProviderConfigFactory(
        owner_user=agent.agent_owner_user, base_url=llm_server.url, monthly_budget_micros=10
    )
    for _ in range(3):
        with pytest.raises(AIQuotaExceeded):
            ai.complete(user=agent, agent=agent, messages=PING, feature="agent_run")
    from apps.core.redis import get_redis

    assert int(get_redis().get(ai.agent_spend_key(agent.pk))) == 0


def test_platform_call_asks_the_plan_allowance(user, llm_server, monkeypatch):
    NetworkProviderConfigFactory(network=user.network, base_url=llm_server.url)
    seen = {}

    def refuse(**kwargs):
        seen.update(kwargs)
        raise AIQuotaExceeded("Plan allowance used up.", extra={"budget": "plan"})

    monkeypatch.setattr(ai.allowance, "check_plan_allowance", refuse)
    with pytest.raises(AIQuotaExceeded):
        ai.complete(user=user, messages=PING, feature="api")
    assert seen["user"] == user and llm_server.calls == 0


def test_platform_usage_is_not_byok(user, llm_server):
    NetworkProviderConfigFactory(network=user.network, base_url=llm_server.url)
    assert ai.complete(user=user, messages=PING, feature="api").usage.is_byok is False
