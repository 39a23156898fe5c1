from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.accounts.factories import UserFactory


def aged(user: User, days: int = 30) -> User:
    """Make the account old enough to leave the new-account limits."""
    User.objects.filter(pk=user.pk).update(created_at=timezone.now() - timedelta(days=days))
    user.refresh_from_db()
    return user


@pytest.fixture
def user(network):
    return aged(UserFactory(network=network))


@pytest.fixture
def make_client():
    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def alice(network):
    return aged(UserFactory(network=network, handle="alice"))


@pytest.fixture
def bob(network):
    return aged(UserFactory(network=network, handle="bob"))


@pytest.fixture
def moderator(network):
    return aged(UserFactory(network=network, handle="netmod", network_role="moderator"))
