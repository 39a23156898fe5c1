"""API keys: settings and preferences follow the ``profile`` scope; email change, deletion and
exports refuse keys outright (session only)."""

import pytest
from rest_framework.test import APIClient

from apps.preferences.models import AccountDeletionRequest, DataExport, PendingEmailChange
from tests.accounts.factories import PASSWORD
from tests.apikeys.factories import bearer, issue_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def full_key_client(user):
    issued = issue_key(user, scopes=["full"])
    return APIClient(**bearer(issued.token))


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/v1/account/email-change/", {"new_email": "k@example.org", "password": PASSWORD}),
        ("delete", "/api/v1/account/email-change/", {}),
        ("post", "/api/v1/account/email-change/confirm/", {"token": "x"}),
        ("get", "/api/v1/account/deletion-request/", {}),
        ("post", "/api/v1/account/deletion-request/", {"password": PASSWORD}),
        ("post", "/api/v1/account/exports/", {}),
        ("get", "/api/v1/account/exports/", {}),
    ],
)
def test_sensitive_account_endpoints_refuse_api_keys(full_key_client, method, url, body):
    response = getattr(full_key_client, method)(url, body, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "api_key_forbidden"
    assert not PendingEmailChange.objects.exists()
    assert not AccountDeletionRequest.objects.exists()
    assert not DataExport.objects.exists()


def test_settings_and_preferences_accept_a_key_with_the_profile_scope(user):
    reader = APIClient(**bearer(issue_key(user, scopes=["profile:read"]).token))
    assert reader.get("/api/v1/account/settings/").status_code == 200
    assert reader.get("/api/v1/account/preferences/").status_code == 200
    refused = reader.patch("/api/v1/account/settings/", {"timezone": "Asia/Tokyo"}, format="json")
    assert refused.status_code == 403
    writer = APIClient(**bearer(issue_key(user, scopes=["profile:write", "profile:read"]).token))
    assert (
        writer.patch("/api/v1/account/settings/", {"timezone": "Asia/Tokyo"}, format="json").status_code
        == 200
    )
    assert writer.put("/api/v1/account/preferences/", {"data": {"a": 1}}, format="json").status_code == 200
