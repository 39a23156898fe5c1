"""Integration rows for tests; every row follows its user's / agent's network."""

from __future__ import annotations

import factory

from apps.integrations.models import AgentIntegration, UserIntegration
from tests.accounts.factories import AgentFactory, UserFactory


class UserIntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserIntegration

    user = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("user.network")
    toolkit = "github"
    provider = "composio"
    external_account_id = factory.Sequence(lambda n: f"ca_f{n}")
    account_label = "octocat"


class HttpIntegrationFactory(UserIntegrationFactory):
    toolkit = "http"
    provider = "direct"
    external_account_id = None
    credentials = "saas-token"
    config = factory.LazyFunction(lambda: {})


class AgentIntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentIntegration

    user_integration = factory.SubFactory(UserIntegrationFactory)
    agent = factory.SubFactory(
        AgentFactory,
        network=factory.SelfAttribute("..user_integration.network"),
        agent_owner_user=factory.SelfAttribute("..user_integration.user"),
        agent_autonomy="autonomous",
    )
    network = factory.SelfAttribute("user_integration.network")
    allowed_tools = factory.LazyFunction(lambda: ["GITHUB_CREATE_ISSUE", "GITHUB_LIST_ISSUES"])
    approval_policy = "never"
    granted_by = factory.SelfAttribute("user_integration.user")


def github_grant(user, **kwargs) -> AgentIntegration:
    integration = UserIntegrationFactory(user=user, network=user.network)
    return AgentIntegrationFactory(user_integration=integration, **kwargs)


def http_grant(user, base_url: str, **kwargs) -> AgentIntegration:
    integration = HttpIntegrationFactory(user=user, network=user.network, config={"base_url": base_url})
    kwargs.setdefault("allowed_tools", ["HTTP_GET", "HTTP_POST"])
    return AgentIntegrationFactory(user_integration=integration, **kwargs)
