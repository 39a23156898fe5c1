"""A request that resolves no network fails closed with a clear error (issue 7 §11).

Before ``bootstrap_colony`` there is no network at all; a host that names no
network when no default exists resolves none either. Headless and browser
login/signup used to be a 500 (``signup_open`` dereferenced the lazy
``request.network`` that had resolved to None).
"""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.tenancy import NO_NETWORK_MESSAGE
from tests.accounts.factories import PASSWORD, UserFactory
from tests.networks.factories import NetworkFactory

pytestmark = pytest.mark.django_db

HEADLESS = [
    ("get", "/_allauth/browser/v1/config", None),
    ("get", "/_allauth/browser/v1/auth/session", None),
    ("post", "/_allauth/browser/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD}),
    ("post", "/_allauth/app/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD}),
    ("post", "/_allauth/browser/v1/auth/signup", {"email": "new@example.com", "password": PASSWORD}),
    ("post", "/_allauth/app/v1/auth/signup", {"email": "new@example.com", "password": PASSWORD}),
    ("post", "/_allauth/browser/v1/auth/password/request", {"email": "ann@example.com"}),
]


@pytest.fixture(params=["fresh database", "host naming no network, no default"])
def no_network(request):
    if request.param == "fresh database":
        return "testserver", None
    # a network exists (with a user who knows her password) but serves another host
    network = NetworkFactory(slug="beta", domain="beta.example.com", is_default=False)
    return "unknown.example.com", UserFactory(network=network, email="ann@example.com")


@pytest.mark.parametrize(("method", "url", "body"), HEADLESS, ids=[f"{m} {u}" for m, u, _ in HEADLESS])
def test_headless_endpoints_answer_503_no_network(no_network, method, url, body):
    host, _user = no_network
    client = Client(HTTP_HOST=host, raise_request_exception=True)
    if method == "get":
        response = client.get(url)
    else:
        response = client.post(url, body, content_type="application/json")
    assert response.status_code == 503, response.content
    error = response.json()["errors"][0]
    assert error["code"] == "no_network" and "bootstrap_colony" in error["message"]


def test_browser_login_and_signup_refuse_with_a_message(no_network, settings):
    host, user = no_network
    settings.ALLOWED_HOSTS = ["*"]
    client = Client(HTTP_HOST=host, raise_request_exception=True)
    response = client.post("/accounts/login/", {"login": "ann@example.com", "password": PASSWORD})
    assert response.status_code == 200  # the form again, with the reason
    assert NO_NETWORK_MESSAGE.split(":")[0].encode() in response.content
    assert "_auth_user_id" not in client.session
    response = client.post(
        "/accounts/signup/", {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 200 and b"closed" in response.content.lower()
    from apps.accounts.models import User

    assert not User.objects.filter(email="new@example.com").exists()


def test_the_same_host_works_once_bootstrapped(no_network):
    host, _user = no_network
    NetworkFactory(slug="alpha", is_default=True)
    response = Client(HTTP_HOST=host).get("/_allauth/browser/v1/config")
    assert response.status_code == 200
