"""AI usage: the idempotent daily roll-up, ``/ai-usage/`` (rows, group_by, ranges), summary, ai-models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.billing.models import AIUsage, AIUsageDaily
from apps.billing.services.ai import rollup_ai_usage
from tests.accounts.factories import AgentFactory, UserFactory
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

from .factories import AIUsageFactory, ModelPriceFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai-usage/"


def _at(usage: AIUsage, when: datetime) -> AIUsage:
    AIUsage.objects.filter(pk=usage.pk).update(created_at=when)
    return usage


def _yesterday() -> datetime:
    return timezone.now().astimezone(UTC).replace(hour=12, minute=0) - timedelta(days=1)


def test_rollup_is_idempotent(user):
    AIUsageFactory.create_batch(3, user=user, cost_micros=100)
    AIUsageFactory(user=user, model="other", cost_micros=7, status="error")
    assert rollup_ai_usage() == 2
    assert rollup_ai_usage() == 2
    rows = {r.model: r for r in AIUsageDaily.objects.all()}
    assert (rows["gpt-test"].calls, rows["gpt-test"].cost_micros) == (3, 300)
    assert (rows["other"].calls, rows["other"].error_calls) == (1, 1)
    AIUsageFactory(user=user, cost_micros=50)
    rollup_ai_usage()
    assert AIUsageDaily.objects.get(model="gpt-test").cost_micros == 350
    assert AIUsageDaily.objects.count() == 2


def test_rows_are_yours_and_your_agents(user_client, user, network):
    mine = AIUsageFactory(user=user)
    agent = AgentFactory(network=network, agent_owner_user=user)
    agents = AIUsageFactory(user=agent, agent=agent)
    AIUsageFactory(user=UserFactory(network=network))
    ids = {row["id"] for row in user_client.get(URL).json()["results"]}
    assert ids == {str(mine.pk), str(agents.pk)}


def test_group_by_day_merges_rollup_and_today(user_client, user):
    _at(AIUsageFactory(user=user, cost_micros=40), _yesterday())
    _at(AIUsageFactory(user=user, cost_micros=60), _yesterday())
    rollup_ai_usage()
    AIUsageFactory(user=user, cost_micros=5)
    start = (_yesterday().date()).isoformat()
    response = user_client.get(URL, {"group_by": "day", "from": start})
    body = response.json()
    assert response.status_code == 200 and body["group_by"] == "day"
    by_day = {row["key"]: (row["calls"], row["cost_micros"]) for row in body["results"]}
    assert by_day == {start: (2, 100), timezone.now().astimezone(UTC).date().isoformat(): (1, 5)}


@pytest.mark.parametrize(
    ("group_by", "field"), [("model", "model"), ("agent", "agent_id"), ("user", "user_id")]
)
def test_group_by_sums(user_client, user, network, group_by, field):
    agent = AgentFactory(network=network, agent_owner_user=user)
    AIUsageFactory(user=user, model="a", cost_micros=1)
    AIUsageFactory(user=agent, agent=agent, model="b", cost_micros=2)
    AIUsageFactory(user=agent, agent=agent, model="b", cost_micros=3)
    results = user_client.get(URL, {"group_by": group_by}).json()["results"]
    assert sum(r["cost_micros"] for r in results) == 6
    assert max(r["calls"] for r in results) == 2


def test_summary_splits_byok_and_platform(user_client, user):
    AIUsageFactory(user=user, cost_micros=10, is_byok=True)
    AIUsageFactory(user=user, cost_micros=32, is_byok=False)
    _at(AIUsageFactory(user=user, cost_micros=1000), timezone.now() - timedelta(days=400))
    body = user_client.get(f"{URL}summary/").json()
    assert (body["calls"], body["cost_micros"], body["byok_cost_micros"], body["platform_cost_micros"]) == (
        2,
        42,
        10,
        32,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13-01"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"group_by": "week"},
        {"agent": "not-a-uuid"},
        {"feature": "nope"},
    ],
)
def test_bad_ranges_and_filters_are_400(user_client, params):
    assert user_client.get(URL, params).status_code == 400


def test_organization_usage_needs_billing(user_client, user, network):
    org = OrganizationFactory(network=network)
    member = OrganizationMemberFactory(organization=org, user=user, role="member")
    AIUsageFactory(user=UserFactory(network=network), organization=org, cost_micros=9)
    assert user_client.get(URL, {"organization": str(org.pk)}).status_code == 404
    member.role = "billing"
    member.save()
    body = user_client.get(f"{URL}summary/", {"organization": str(org.pk)}).json()
    assert body["cost_micros"] == 9


def test_rows_list_runs_constant_queries(user_client, user, django_assert_max_num_queries):
    AIUsageFactory.create_batch(2, user=user)
    with django_assert_max_num_queries(10):
        assert len(user_client.get(URL).json()["results"]) == 2
    AIUsageFactory.create_batch(30, user=user)
    with django_assert_max_num_queries(10):
        assert len(user_client.get(URL).json()["results"]) == 32


def test_ai_models_lists_prices_in_effect(user_client):
    ModelPriceFactory(effective_at=timezone.now() - timedelta(days=9), input_per_mtok_micros=1)
    ModelPriceFactory(effective_at=timezone.now() - timedelta(days=1), input_per_mtok_micros=2)
    ModelPriceFactory(effective_at=timezone.now() + timedelta(days=1), input_per_mtok_micros=3)
    ModelPriceFactory(model="other")
    rows = user_client.get("/api/v1/ai-models/").json()
    assert {(r["model"], r["input_per_mtok_micros"]) for r in rows} == {("gpt-test", 2), ("other", 2_500_000)}
