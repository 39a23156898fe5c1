"""Social providers are configured in the admin (SocialApp) and show up on the sign-in page."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.socialaccount.models import SocialApp
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def github(network):
    return SocialApp.objects.create(
        provider="github", name="GitHub", client_id="gh-client", secret="gh-secret"
    )


def test_configured_provider_is_offered_on_the_sign_in_page(github):
    page = Client().get("/accounts/login/")
    assert b"Continue with GitHub" in page.content
    assert b"/accounts/github/login/" in page.content


def test_provider_login_redirects_to_the_provider(github):
    response = Client().post("/accounts/github/login/")
    assert response.status_code == 302
    target = urlparse(response["Location"])
    assert (target.netloc, target.path) == ("github.com", "/login/oauth/authorize")
    assert parse_qs(target.query)["client_id"] == ["gh-client"]


def test_headless_config_lists_the_provider(github):
    body = Client().get("/_allauth/browser/v1/config").json()["data"]
    assert [p["id"] for p in body["socialaccount"]["providers"]] == ["github"]
    assert body["account"]["is_open_for_signup"] is True


def test_invite_only_network_hides_social_signup(github, network):
    network.invite_only = True
    network.save(update_fields=["invite_only"])
    page = Client().get("/accounts/signup/")
    assert b"Continue with GitHub" not in page.content
    from apps.accounts.adapters import SocialAccountAdapter

    request = Client().get("/").wsgi_request
    assert SocialAccountAdapter().is_open_for_signup(request, None) is False
    assert json.loads(Client().get("/_allauth/app/v1/config").content)["data"]["account"][
        "is_open_for_signup"
    ]
