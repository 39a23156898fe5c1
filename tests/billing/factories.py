"""AI provider and usage factories; every row follows its owner's network.

``AIProviderConfigFactory`` is a user's BYOK config (``owner_user``); pass
``scope="network", owner_user=None, network=...`` for the platform config, or
``scope="organization", owner_user=None, owner_organization=org``. Its
``base_url`` is a placeholder: tests that call it pass ``base_url=llm_server.url``.
"""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.billing.models import AIProviderConfig, AIUsage, ModelPrice
from tests.accounts.factories import UserFactory


def _network(o):
    owner = o.owner_user or o.owner_organization
    return owner.network


class AIProviderConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIProviderConfig

    scope = "user"
    owner_user = factory.SubFactory(UserFactory)
    owner_organization = None
    network = factory.LazyAttribute(_network)
    name = factory.Sequence(lambda n: f"Provider {n}")
    provider = "openai"
    base_url = "https://llm.example.com/v1"
    api_key = "sk-test-0123456789abcdef"
    default_model = "gpt-test"
    allowed_models = factory.LazyFunction(list)
    is_default = True


class NetworkProviderConfigFactory(AIProviderConfigFactory):
    scope = "network"
    owner_user = None
    network = factory.SubFactory("tests.networks.factories.NetworkFactory")


class ModelPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPrice

    provider = "openai"
    model = "gpt-test"
    input_per_mtok_micros = 2_500_000  # $2.50 per million input tokens
    output_per_mtok_micros = 10_000_000
    cached_input_per_mtok_micros = 1_250_000
    effective_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=30))


class AIUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIUsage

    user = factory.SubFactory(UserFactory)
    network = factory.LazyAttribute(lambda o: o.user.network)
    provider = "openai"
    model = "gpt-test"
    feature = "chat"
    input_tokens = 100
    output_tokens = 50
    cost_micros = 750
    latency_ms = 120
