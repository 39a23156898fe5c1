"""Runs this domain's cross-tenant cases the way the shared matrix does (until it lands)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

import tests.accounts.matrix  # noqa: F401 — registers the cases
from tests.accounts.factories import UserFactory
from tests.matrix import DETAIL, EXEMPT, Ctx

pytestmark = pytest.mark.django_db

ACCOUNT_ROUTES = [name for name in DETAIL if name.startswith(("user-", "account-"))]


def _ctx(network) -> Ctx:
    user = UserFactory(network=network)
    client = APIClient()
    client.force_login(user)
    return Ctx(network=network, user=user, client=client)


@pytest.mark.parametrize("url_name", ACCOUNT_ROUTES)
def test_other_network_gets_404_and_owner_does_not(url_name, network, other_network):
    case = DETAIL[url_name]
    own, other = _ctx(network), _ctx(other_network)
    url = reverse(url_name, kwargs=case.make(own))
    for method in case.methods:
        response = getattr(other.client, method)(url, case.body, format="json")
        assert response.status_code == 404, (url_name, method, response.status_code)
    for method in case.methods:
        response = getattr(own.client, method)(url, case.body, format="json")
        assert response.status_code != 404, (url_name, method)


def test_every_post_route_is_registered_or_exempt():
    for name in (
        "account-session-revoke-others",
        "account-2fa-totp",
        "account-2fa-totp-confirm",
        "account-2fa-backup-codes",
        "account-2fa-verify",
    ):
        assert name in EXEMPT
        reverse(name)
    assert "account-session-detail" in DETAIL
