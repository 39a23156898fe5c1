"""Runs this domain's cross-tenant cases the way the shared matrix does, and checks coverage."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

import tests.preferences.matrix  # noqa: F401 — registers the cases
from apps.accounts.models import User
from apps.preferences import urls as preferences_urls
from apps.preferences.models import (
    AccountDeletionRequest,
    DataExport,
    PendingEmailChange,
    UserPreferences,
    UserSettings,
)
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
        "email-change-confirm-page",
    }


def _ctx(network) -> Ctx:
    user = UserFactory(network=network)
    client = APIClient()
    client.force_login(user)
    return Ctx(network=network, user=user, client=client)


def _snapshot():
    rows = []
    for model in (DataExport, PendingEmailChange, AccountDeletionRequest, UserSettings, UserPreferences):
        rows += [(model.__name__, pk, ts) for pk, ts in model.objects.values_list("pk", "updated_at")]
    rows += [
        ("User", pk, email, state) for pk, email, state in User.objects.values_list("pk", "email", "state")
    ]
    return sorted(map(str, rows))


@pytest.mark.parametrize("url_name", DETAIL_ROUTES)
def test_other_network_gets_404_changes_nothing_and_owner_does_not(url_name, network, other_network):
    case = DETAIL[url_name]
    own, other = _ctx(network), _ctx(other_network)
    url = reverse(url_name, kwargs=case.make(own))
    before = _snapshot()
    for method in case.methods:
        response = getattr(other.client, method)(url, case.body, format="json")
        assert response.status_code == 404, (url_name, method, response.status_code)
    assert _snapshot() == before
    for method in case.methods:
        response = getattr(own.client, method)(url, case.body, format="json")
        assert response.status_code != 404, (url_name, method)


@pytest.mark.parametrize("url_name", DETAIL_ROUTES)
def test_another_user_of_the_same_network_gets_404_too(url_name, network):
    case = DETAIL[url_name]
    own, neighbour = _ctx(network), _ctx(network)
    url = reverse(url_name, kwargs=case.make(own))
    for method in case.methods:
        assert getattr(neighbour.client, method)(url, case.body, format="json").status_code == 404
