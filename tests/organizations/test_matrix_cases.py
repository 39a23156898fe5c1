"""Runs this domain's cross-tenant cases the way the shared matrix does (until it lands)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

import tests.organizations.matrix  # noqa: F401 — registers the cases
from apps.core.models import AuditEvent
from apps.organizations import urls as org_urls
from apps.organizations.models import Organization, OrganizationMember, OrganizationSecurityPolicy
from tests.accounts.factories import UserFactory
from tests.matrix import CREATE, DETAIL, EXEMPT, Ctx

pytestmark = pytest.mark.django_db

ROUTES = sorted({p.name for p in org_urls.urlpatterns if p.name})
DETAIL_ROUTES = sorted(name for name in DETAIL if name in ROUTES)
CREATE_ROUTES = sorted(name for name in CREATE if name in ROUTES)


def _ctx(network) -> Ctx:
    user = UserFactory(network=network)
    client = APIClient()
    client.force_login(user)
    return Ctx(network=network, user=user, client=client)


def _snapshot():
    return (
        sorted(Organization.objects.values_list("id", "name", "archived_at")),
        sorted(OrganizationMember.objects.values_list("id", "role", "status")),
        sorted(OrganizationSecurityPolicy.objects.values_list("id", "require_2fa", "ip_allowlist")),
        AuditEvent.objects.count(),
    )


def test_every_route_is_registered():
    for name in ROUTES:
        pattern = next(p for p in org_urls.urlpatterns if p.name == name)
        takes_kwargs = "<" in str(pattern.pattern) or "(?P<" in str(pattern.pattern)
        if takes_kwargs:
            assert name in DETAIL or name in EXEMPT, f"{name}: register a detail case"
    for name in (
        "organization-list",
        "organization-members",
        "organization-invitation-accept",
        "organization-transfer-ownership",
    ):
        assert name in CREATE or name in EXEMPT, f"{name} accepts POST: register a create case"


@pytest.mark.parametrize("url_name", DETAIL_ROUTES)
def test_other_network_gets_404_everywhere_and_the_owner_does_not(url_name, network, other_network):
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
        assert response.status_code != 404, (url_name, method, response.content)


@pytest.mark.parametrize("url_name", CREATE_ROUTES)
def test_foreign_foreign_keys_are_400(url_name, network, other_network):
    own, other = _ctx(network), _ctx(other_network)
    kwargs, body = CREATE[url_name].make(own, other)
    before = _snapshot()
    response = own.client.post(reverse(url_name, kwargs=kwargs), body, format="json")
    assert response.status_code in (400, 404), response.content
    assert "does not exist" in str(response.json())
    assert _snapshot() == before
