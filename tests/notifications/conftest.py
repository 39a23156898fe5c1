from __future__ import annotations

import pytest

from .pushservice import PushService, generate_vapid_keys


@pytest.fixture(scope="session")
def vapid_keys() -> tuple[str, str]:
    return generate_vapid_keys()


@pytest.fixture
def push_settings(settings, vapid_keys):
    """VAPID keys configured; loopback endpoints allowed (the local push service)."""
    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = vapid_keys
    settings.VAPID_SUBJECT = "mailto:push-tests@colony.local"
    settings.PUSH_ALLOW_PRIVATE_ENDPOINTS = True
    return settings


@pytest.fixture
def push_service(push_settings):
    service = PushService().start()
    yield service
    service.stop()
