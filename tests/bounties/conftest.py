"""Bounty fixtures: the local Stripe stub (deposits by Checkout, Connect payouts) and staff."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from tests.accounts.factories import UserFactory
from tests.stripe_server import stripe_server  # noqa: F401 — the fixture


@pytest.fixture
def staff(network):
    return UserFactory(network=network, is_staff=True, is_superuser=True)


@pytest.fixture
def other_staff(network):
    return UserFactory(network=network, is_staff=True, is_superuser=True)


def fresh_client(user, **session_values) -> APIClient:
    """A session that signed in a minute ago (allauth's authentication record)."""
    client = APIClient()
    client.force_login(user)
    session = client.session
    session["account_authentication_methods_user"] = str(user.pk)
    session["account_authentication_methods"] = [{"method": "password", "at": time.time() - 60}]
    session.update(session_values)
    session.save()
    return client
