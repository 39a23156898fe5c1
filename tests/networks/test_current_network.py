import pytest

from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_anyone_reads_public_fields(api_client, network):
    body = api_client.get("/api/v1/networks/current/").json()
    assert body["slug"] == "alpha"
    assert "settings" not in body


def test_anonymous_on_network_domain_gets_that_network(api_client, network, other_network):
    body = api_client.get("/api/v1/networks/current/", HTTP_HOST="beta.example.com").json()
    assert body["slug"] == "beta"


def test_member_cannot_change_settings(user_client):
    response = user_client.patch("/api/v1/networks/current/", {"name": "Mine"}, format="json")
    assert response.status_code == 403


def test_network_admin_updates_validated_settings(api_client, network):
    admin = UserFactory(network=network, network_role="admin")
    api_client.force_login(admin)
    ok = api_client.patch("/api/v1/networks/current/", {"settings": {"require_2fa": True}}, format="json")
    assert ok.status_code == 200
    assert ok.json()["settings"]["require_2fa"] is True
    bad = api_client.patch("/api/v1/networks/current/", {"settings": {"fee_bps": -1}}, format="json")
    assert bad.status_code == 400
    unknown = api_client.patch("/api/v1/networks/current/", {"settings": {"nope": 1}}, format="json")
    assert unknown.status_code == 400


def test_api_key_cannot_change_network_settings(api_client, network):
    from tests.apikeys.factories import issue_key

    admin = UserFactory(network=network, network_role="admin")
    issued = issue_key(admin, scopes=["profile:write"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    assert api_client.get("/api/v1/networks/current/").status_code == 200
    response = api_client.patch("/api/v1/networks/current/", {"name": "Keyed"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "api_key_forbidden"
