from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def make_client():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make
