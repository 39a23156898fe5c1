"""Connections: the connect flow (single-use hashed state, 15 minutes, allowlisted return URLs), direct
connections with encrypted tokens, revoke at the provider (grants disabled), refresh, the provider's webhook."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from apps.agents.models import AgentChangeLog
from apps.core.models import InboundWebhook
from apps.integrations.models import AgentIntegration, PendingIntegration, UserIntegration
from apps.integrations.webhooks import sign

from .factories import github_grant

pytestmark = pytest.mark.django_db


def _start(client, **body):
    body = {"toolkit": "github", "return_url": "https://app.example/settings/integrations", **body}
    return client.post("/api/v1/pending-integrations/", body, format="json")


def _state(saas) -> str:
    callback = saas.requests[-1]["body"]["connection"]["callback_url"]
    return parse_qs(urlsplit(callback).query)["state"][0]


def test_connect_flow_creates_the_connection_once(user, user_client, saas):
    response = _start(user_client)
    assert response.status_code == 201, response.content
    assert response.json()["redirect_url"].startswith("https://auth.example/connect/")
    state = _state(saas)
    pending = PendingIntegration.objects.get()
    assert pending.state_hash == hashlib.sha256(state.encode()).hexdigest() and state not in json.dumps(
        response.json()
    )
    callback = user_client.get("/api/v1/integrations/callback/", {"state": state})
    assert callback.status_code == 302
    assert callback["Location"].startswith("https://app.example/settings/integrations?status=connected")
    integration = UserIntegration.objects.get()
    assert (integration.user, integration.toolkit, integration.status) == (user, "github", "active")
    assert integration.external_account_id == pending.external_request_id
    again = user_client.get("/api/v1/integrations/callback/", {"state": state})  # reused
    assert again.status_code == 400 and again.json()["code"] == "invalid_state_token"
    assert UserIntegration.objects.count() == 1


def test_unknown_state_and_foreign_return_url_are_400(user_client, saas):
    response = user_client.get("/api/v1/integrations/callback/", {"state": "nope"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_state_token"
    response = _start(user_client, return_url="https://evil.example/steal")
    assert response.status_code == 400 and response.json()["code"] == "return_url_not_allowed"
    assert _start(user_client, toolkit="nosuch").json()["code"] == "unknown_toolkit"
    assert not PendingIntegration.objects.exists()


def test_an_expired_state_connects_nothing(user_client, saas):
    _start(user_client)
    state = _state(saas)
    PendingIntegration.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = user_client.get("/api/v1/integrations/callback/", {"state": state})
    assert response.status_code == 302 and "status=expired" in response["Location"]
    assert PendingIntegration.objects.get().status == "expired" and not UserIntegration.objects.exists()


def test_direct_connection_keeps_the_token_encrypted_and_shows_a_hint(user_client, saas):
    response = user_client.post(
        "/api/v1/integrations/",
        {"toolkit": "http", "base_url": f"{saas.url}/saas", "token": "saas-token-secret-123"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "saas-token-secret-123" not in response.content.decode()
    integration = UserIntegration.objects.get()
    assert integration.credentials == "saas-token-secret-123" and integration.credentials_hint
    raw = UserIntegration.objects.values_list("credentials", flat=True).get()
    assert b"saas-token-secret-123" not in bytes(raw)


def test_direct_connection_to_a_private_address_is_400(user_client, saas, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_URLS = False
    for url in ("https://127.0.0.1/api", "https://169.254.169.254/", "http://8.8.8.8/"):
        response = user_client.post(
            "/api/v1/integrations/", {"toolkit": "http", "base_url": url}, format="json"
        )
        assert response.status_code == 400, url
        assert response.json()["code"] in ("base_url_private", "base_url_not_https")
    settings.INTEGRATIONS_HTTP_ALLOWED_HOSTS = ["api.example.com"]
    response = user_client.post(
        "/api/v1/integrations/", {"toolkit": "http", "base_url": "https://8.8.8.8/"}, format="json"
    )
    assert response.json()["code"] == "base_url_not_allowed"


def test_revoke_revokes_at_the_provider_and_disables_grants(user, user_client, saas):
    grant = github_grant(user)
    integration = grant.user_integration
    saas.accounts[integration.external_account_id] = "ACTIVE"
    response = user_client.delete(f"/api/v1/integrations/{integration.pk}/")
    assert response.status_code == 204
    assert saas.deleted == [integration.external_account_id]
    integration.refresh_from_db()
    assert integration.status == "revoked"
    assert AgentIntegration.objects.get(pk=grant.pk).enabled is False
    assert AgentChangeLog.objects.filter(agent=grant.agent, change="integration").exists()
    assert user_client.delete(f"/api/v1/integrations/{integration.pk}/").status_code == 409


def test_refresh_marks_an_account_the_provider_expired(user, user_client, saas):
    integration = github_grant(user).user_integration
    saas.accounts[integration.external_account_id] = "EXPIRED"
    response = user_client.post(f"/api/v1/integrations/{integration.pk}/refresh/")
    assert response.status_code == 200 and response.json()["status"] == "expired"


def _signed(body: bytes, webhook_id="msg_1", secret="whsec-test"):
    ts = str(int(time.time()))
    return {
        "HTTP_WEBHOOK_ID": webhook_id,
        "HTTP_WEBHOOK_TIMESTAMP": ts,
        "HTTP_WEBHOOK_SIGNATURE": sign(webhook_id=webhook_id, timestamp=ts, body=body, secret=secret),
    }


def test_provider_webhook_is_signed_recorded_once_and_applied(
    user, api_client, saas, django_capture_on_commit_callbacks
):
    grant = github_grant(user)
    body = json.dumps(
        {
            "type": "connected_account.expired",
            "data": {"id": grant.user_integration.external_account_id, "status": "EXPIRED"},
        }
    ).encode()
    bad = api_client.post(
        "/api/v1/webhooks/composio/", body, content_type="application/json", **_signed(body, secret="wrong")
    )
    assert bad.status_code == 401 and not InboundWebhook.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        ok = api_client.post(
            "/api/v1/webhooks/composio/", body, content_type="application/json", **_signed(body)
        )
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
    dup = api_client.post(
        "/api/v1/webhooks/composio/", body, content_type="application/json", **_signed(body)
    )
    assert dup.json()["status"] == "duplicate"
    assert InboundWebhook.objects.get().status == "processed"
    assert UserIntegration.objects.get().status == "expired"


def test_jobs_refresh_connections_and_expire_connect_flows(user, user_client, saas):
    from apps.integrations.tasks import expire_pending, refresh_connections

    integration = github_grant(user).user_integration
    saas.accounts[integration.external_account_id] = "EXPIRED"
    assert refresh_connections() == 1
    assert UserIntegration.objects.get(pk=integration.pk).status == "expired"
    _start(user_client)
    PendingIntegration.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_pending() == 1
    assert PendingIntegration.objects.get().status == "expired"
