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


@pytest.fixture
def fcm_server(settings):
    """A local FCM + OAuth token endpoint; the service account's JSON configured as the env would."""
    import json

    from apps.notifications import fcm

    from .mobilepush import FakeFCM

    server = FakeFCM().start()
    settings.FCM_SERVICE_ACCOUNT = json.dumps(server.service_account())
    settings.FCM_PROJECT_ID = ""
    settings.FCM_BASE_URL = server.base_url
    settings.FCM_TOKEN_URL = ""
    fcm._tokens.clear()
    yield server
    fcm._tokens.clear()
    server.stop()


@pytest.fixture
def apns_server(settings):
    """A local APNs; the .p8 key and its ids configured as the env would."""
    from apps.notifications import apns

    from .mobilepush import FakeAPNs, pem

    server = FakeAPNs().start()
    settings.APNS_KEY = pem(server.key)
    settings.APNS_KEY_ID = server.key_id
    settings.APNS_TEAM_ID = server.team_id
    settings.APNS_TOPIC = server.topic
    settings.APNS_BASE_URL = server.base_url
    apns._tokens.clear()
    yield server
    apns._tokens.clear()
    server.stop()
