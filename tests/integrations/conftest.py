from __future__ import annotations

import pytest

from .stub import API_KEY, shared_stub


@pytest.fixture
def saas(settings):
    """The local SaaS stand-in (provider API + plain JSON API), reset; settings point at it."""
    stub = shared_stub()
    stub.reset()
    settings.COMPOSIO_BASE_URL = stub.url
    settings.COMPOSIO_API_KEY = API_KEY
    settings.COMPOSIO_WEBHOOK_SECRET = "whsec-test"
    settings.COMPOSIO_AUTH_CONFIGS = {"github": "ac_github"}
    settings.INTEGRATIONS_RETURN_URL_ORIGINS = ["https://app.example"]
    settings.INTEGRATIONS_ALLOW_PRIVATE_URLS = True
    settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS = 2.0
    yield stub
    stub.release.set()
    stub.reset()
