"""This domain's matrix cases: every route registered, and (beyond the shared matrix, which
checks other networks) another user of the same network gets the same 404."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

import tests.preferences.matrix  # noqa: F401 — registers the cases
from apps.preferences import urls as preferences_urls
from tests.accounts.factories import UserFactory
from tests.matrix import CREATE, DETAIL, EXEMPT, Ctx

pytestmark = pytest.mark.django_db


def _route_names(patterns) -> list[str]:
    names = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names += _route_names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.append(pattern.name)
    return names


ROUTES = _route_names(preferences_urls.urlpatterns)
DETAIL_ROUTES = [name for name in ROUTES if name in DETAIL]


def test_every_route_is_registered():
    missing = [name for name in ROUTES if name not in DETAIL and name not in CREATE and name not in EXEMPT]
    assert missing == []
    assert set(DETAIL_ROUTES) == {
        "account-export-detail",
        "account-export-download",
    }


def _ctx(network) -> Ctx:
    user = UserFactory(network=network)
    client = APIClient()
    client.force_login(user)
    return Ctx(network=network, user=user, client=client)


@pytest.mark.parametrize("url_name", DETAIL_ROUTES)
def test_another_user_of_the_same_network_gets_404_too(url_name, network):
    case = DETAIL[url_name]
    own, neighbour = _ctx(network), _ctx(network)
    url = reverse(url_name, kwargs=case.make(own))
    for method in case.methods:
        assert getattr(neighbour.client, method)(url, case.body, format="json").status_code == 404
