"""``/api/v1/ai-provider-configs/``: BYOK configs, write-only secrets, SSRF rules, verify."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.billing.models import AIProviderConfig, AIUsage
from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

from .factories import AIProviderConfigFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai-provider-configs/"
SECRET = "sk-live-abcdefghijklmnop1234"


def _body(**extra):
    return {
        "name": "Mine",
        "base_url": "https://8.8.8.8/v1",
        "default_model": "gpt-test",
        "api_key": SECRET,
        **extra,
    }


def test_create_returns_hint_never_the_key(user_client, user):
    response = user_client.post(URL, _body(extra_headers={"X-Org": "org-secret-value-1"}), format="json")
    assert response.status_code == 201, response.content
    assert SECRET not in response.content.decode() and "org-secret" not in response.content.decode()
    assert response.json()["api_key_hint"] == "sk-…1234"
    config = AIProviderConfig.objects.get()
    assert config.owner_user == user and config.scope == "user" and config.api_key == SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key::text, extra_headers::text FROM billing_aiproviderconfig")
        stored = " ".join(cursor.fetchone())
    assert "abcdefghijklmnop" not in stored and "org-secret" not in stored


@pytest.mark.parametrize(
    ("base_url", "code"),
    [
        ("http://8.8.8.8/v1", "base_url_not_https"),
        ("https://127.0.0.1:11434/v1", "base_url_private"),
        ("https://10.0.0.5/v1", "base_url_private"),
        ("https://169.254.169.254/", "base_url_private"),
    ],
)
def test_unsafe_base_url_is_400(user_client, base_url, code):
    response = user_client.post(URL, _body(base_url=base_url), format="json")
    assert response.status_code == 400 and response.json()["code"] == code
    assert not AIProviderConfig.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"extra_headers": ["x"]},
        {"extra_headers": {"Host": "evil"}},
        {"monthly_budget_micros": -1},
        {"allowed_models": ["a"], "default_model": "b"},
        {"provider": "nope"},
        {"name": ""},
        {"scope": "network"},
        {"base_url": "not a url"},
    ],
)
def test_bad_bodies_are_400(user_client, body):
    response = user_client.post(URL, _body(**body), format="json")
    assert response.status_code == 400, response.content
    assert not AIProviderConfig.objects.exists()


def test_duplicate_name_is_400(user_client):
    assert user_client.post(URL, _body(), format="json").status_code == 201
    response = user_client.post(URL, _body(), format="json")
    assert response.status_code == 400 and response.json()["code"] == "name_taken"


def test_one_default_per_owner(user_client, user):
    first = user_client.post(URL, _body(name="a", is_default=True), format="json").json()
    second = user_client.post(URL, _body(name="b", is_default=True), format="json").json()
    assert AIProviderConfig.objects.get(pk=second["id"]).is_default
    assert not AIProviderConfig.objects.get(pk=first["id"]).is_default


def test_org_configs_need_the_billing_role(user_client, user, network):
    org = OrganizationFactory(network=network)
    member = OrganizationMemberFactory(organization=org, user=user, role="admin")
    body = _body(scope="organization", owner_organization=str(org.pk))
    assert user_client.post(URL, body, format="json").status_code == 403
    member.role = "billing"
    member.save()
    response = user_client.post(URL, body, format="json")
    assert response.status_code == 201 and response.json()["owner_organization"] == str(org.pk)
    assert user_client.get(URL).json()["results"][0]["id"] == response.json()["id"]


def test_others_configs_are_404(user_client, network):
    theirs = AIProviderConfigFactory(owner_user__network=network)
    assert user_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert user_client.patch(f"{URL}{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert user_client.get(URL).json()["results"] == []


def test_patch_keeps_or_replaces_the_key(user_client, user):
    config = AIProviderConfigFactory(owner_user=user)
    response = user_client.patch(f"{URL}{config.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["api_key_hint"] == "sk-…cdef"
    response = user_client.patch(f"{URL}{config.pk}/", {"api_key": "sk-new-key-0000009999"}, format="json")
    assert response.json()["api_key_hint"] == "sk-…9999"
    config.refresh_from_db()
    assert config.api_key == "sk-new-key-0000009999" and config.name == "Renamed"


def test_list_runs_constant_queries(user_client, user, django_assert_max_num_queries):
    AIProviderConfigFactory.create_batch(2, owner_user=user, is_default=False)
    with django_assert_max_num_queries(12):
        assert len(user_client.get(URL).json()["results"]) == 2
    AIProviderConfigFactory.create_batch(20, owner_user=user, is_default=False)
    with django_assert_max_num_queries(12):
        assert len(user_client.get(URL).json()["results"]) == 22


def test_verify_makes_a_one_token_call(user_client, user, llm_server):
    config = AIProviderConfigFactory(owner_user=user, base_url=llm_server.url)
    response = user_client.post(f"{URL}{config.pk}/verify/")
    assert (
        response.status_code == 200
        and response.json()["last_verified_at"]
        and not response.json()["last_error"]
    )
    assert llm_server.requests[0].json["max_tokens"] == 1
    usage = AIUsage.objects.get()
    assert usage.feature == "verification" and usage.provider_config == config
    assert llm_server.requests[0].headers["authorization"] == "Bearer sk-test-0123456789abcdef"


def test_verify_failure_is_stored(user_client, user, llm_server):
    config = AIProviderConfigFactory(owner_user=user, base_url=llm_server.url, default_model="error-500")
    response = user_client.post(f"{URL}{config.pk}/verify/")
    assert response.status_code == 200 and "HTTP 500" in response.json()["last_error"]
    assert AIUsage.objects.get().status == "error"


def test_disabled_config_verify_is_a_clean_error(user_client, user):
    config = AIProviderConfigFactory(owner_user=user, enabled=False)
    response = user_client.post(f"{URL}{config.pk}/verify/")
    assert response.status_code == 409 and response.json()["code"] == "ai_provider_not_configured"


def test_delete_with_usage_retires_the_config(user_client, user, llm_server):
    config = AIProviderConfigFactory(owner_user=user, base_url=llm_server.url)
    user_client.post(f"{URL}{config.pk}/verify/")
    assert user_client.delete(f"{URL}{config.pk}/").status_code == 204
    config.refresh_from_db()
    assert config.deleted_at and config.api_key is None and not config.enabled
    assert user_client.get(f"{URL}{config.pk}/").status_code == 404
    unused = AIProviderConfigFactory(owner_user=user, is_default=False)
    assert user_client.delete(f"{URL}{unused.pk}/").status_code == 204
    assert not AIProviderConfig.objects.filter(pk=unused.pk).exists()


def test_api_keys_cannot_write_configs(user, api_client):
    from apps.apikeys.services import create_api_key

    issued = create_api_key(actor=user, name="k", scopes=["billing:read"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    assert api_client.get(URL).status_code == 200
    assert api_client.post(URL, _body(), format="json").status_code == 403
