"""Fixtures of the organizations tests: an org owned by ``user`` and a client per role."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.accounts.factories import UserFactory

from .factories import OrganizationFactory, OrganizationMemberFactory


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def org(network, user):
    """A live organization of the default network; ``user`` is its only owner."""
    return OrganizationFactory(network=network, owner=user)


@pytest.fixture
def member_of(org):
    """``member_of("admin")`` → a new user of the org's network with that role."""

    def make(role: str, **kwargs):
        person = UserFactory(network=org.network, **kwargs)
        OrganizationMemberFactory(organization=org, user=person, role=role)
        return person

    return make


@pytest.fixture
def outsider(network):
    """A user of the same network who is not a member."""
    return UserFactory(network=network)
