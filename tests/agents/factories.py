"""Agent rows for tests; every row follows its agent's network.

``agent_with_llm(owner, llm_server)`` makes an active agent of ``owner`` whose
provider is the local OpenAI-compatible server (a BYOK config of the owner).
"""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.agents.models import AgentMemoryFact, AgentProjectAccess, AgentScheduledTask
from tests.accounts.factories import AgentFactory
from tests.billing.factories import AIProviderConfigFactory


class AgentProjectAccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentProjectAccess

    agent = factory.SubFactory(AgentFactory)
    network = factory.SelfAttribute("agent.network")
    project = None
    role = "contribute"


class AgentMemoryFactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentMemoryFact

    agent = factory.SubFactory(AgentFactory)
    network = factory.SelfAttribute("agent.network")
    content = factory.Sequence(lambda n: f"fact number {n}")


class AgentScheduledTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentScheduledTask

    agent = factory.SubFactory(AgentFactory)
    network = factory.SelfAttribute("agent.network")
    name = factory.Sequence(lambda n: f"task {n}")
    instruction = "Post the daily summary."
    cron = "0 9 * * *"
    timezone = "UTC"
    next_run_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(minutes=1))


def agent_with_llm(owner, llm_server, **agent_fields):
    from apps.billing.models import AIProviderConfig

    if not AIProviderConfig.objects.filter(owner_user=owner, is_default=True).exists():
        AIProviderConfigFactory(owner_user=owner, base_url=llm_server.url, default_model="gpt-test")
    fields = {
        "agent_model": "gpt-test",
        "agent_autonomy": "autonomous",
        "agent_timezone": "UTC",
        **agent_fields,
    }
    return AgentFactory(network=owner.network, agent_owner_user=owner, **fields)
