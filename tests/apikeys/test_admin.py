"""Back office: keys list without secrets, audited revoke, read-only usage."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.apikeys.models import ApiKey
from apps.core.models import AuditEvent
from tests.accounts.factories import UserFactory

from .factories import issue_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(other_network):
    staff = UserFactory(network=other_network, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    client.staff = staff
    return client


def test_changelist_shows_keys_never_the_secret_hash(staff_client, user, django_assert_max_num_queries):
    keys = [issue_key(user).api_key for _ in range(5)]
    staff_client.get("/admin/apikeys/apikey/")
    with django_assert_max_num_queries(12):
        response = staff_client.get("/admin/apikeys/apikey/")
    assert response.status_code == 200
    html = response.content.decode()
    assert all(k.prefix in html for k in keys)
    assert all(k.secret_hash not in html for k in keys)
    detail = staff_client.get(f"/admin/apikeys/apikey/{keys[0].pk}/change/").content.decode()
    assert keys[0].secret_hash not in detail and keys[0].prefix in detail


def test_staff_revoke_action_revokes_and_audits(staff_client, user):
    api_key = issue_key(user).api_key
    response = staff_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke", "_selected_action": [str(api_key.pk)]},
    )
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by == staff_client.staff
    event = AuditEvent.objects.get(action="apikey.revoked", target_id=api_key.pk)
    assert event.actor == staff_client.staff and event.network_id == user.network_id


def test_usage_admin_is_read_only(staff_client):
    assert staff_client.get("/admin/apikeys/apikeyusage/").status_code == 200
    assert staff_client.get("/admin/apikeys/apikeyusage/add/").status_code == 403
    assert staff_client.get("/admin/apikeys/apikey/add/").status_code == 403
    assert ApiKey.objects.count() == 0
