"""Network settings are one validated document (issue 7 §9).

Writes are checked against the whole schema (``apps/networks/settings_schema.py``),
nested values included; a stored value that does not fit is read as absent
(its default), never a crash.
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.networks.models import Network
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(network) -> APIClient:
    client = APIClient()
    client.force_login(UserFactory(network=network, network_role="admin"))
    return client


def _patch(client, settings: object):
    return client.patch("/api/v1/networks/current/", {"settings": settings}, format="json")


@pytest.mark.parametrize(
    "bad",
    [
        {"project_quotas": {"sandboxes": "abc"}},
        {"project_quotas": {"sandboxes": -1}},
        {"project_quotas": {"sandboxes": True}},
        {"project_quotas": {"gpus": 1}},
        {"project_quotas": []},
        {"require_2fa": "yes"},
        {"fee_bps": 10_001},
        {"rate_limits": {"posts": "often"}},
        {"rate_limits": {"posts": 5}},
        {"default_model": ["gpt"]},
        {"no_such_setting": 1},
        "not an object",
    ],
)
def test_a_bad_value_anywhere_in_the_settings_is_a_400(admin_client, network, bad):
    response = _patch(admin_client, bad)
    assert response.status_code == 400, response.content
    assert "settings" in response.json()
    network.refresh_from_db()
    assert network.settings == {}


def test_a_nested_partial_update_keeps_the_other_defaults(admin_client, network):
    response = _patch(admin_client, {"project_quotas": {"sandboxes": 3}, "rate_limits": {"posts": "10/m"}})
    assert response.status_code == 200, response.content
    network.refresh_from_db()
    assert network.setting("project_quotas") == {"sandboxes": 3, "storage_buckets": 5, "databases": 5}
    assert network.setting("rate_limits") == {"posts": "10/m"}


def test_stored_bad_values_read_as_absent_and_never_crash(network, user, user_client):
    Network.objects.filter(pk=network.pk).update(
        settings={
            "project_quotas": {"sandboxes": "abc", "databases": 2},
            "require_2fa": "yes",
            "rate_limits": "often",
            "fee_bps": None,
            "retired_setting": 1,
        }
    )
    network.refresh_from_db()
    assert network.setting("project_quotas") == {"sandboxes": 10, "storage_buckets": 5, "databases": 2}
    assert network.setting("require_2fa") is False
    assert network.setting("rate_limits") == {}
    assert network.setting("fee_bps") == 500
    project = ProjectFactory(owner_user=user)
    response = user_client.post(
        f"/api/v1/projects/{project.pk}/sandboxes/", {"name": "dev", "image": "x"}, format="json"
    )
    assert response.status_code == 202, response.content
    assert user_client.get("/api/v1/me/").status_code == 200


def test_the_network_admin_page_validates_settings_too(network):
    staff = UserFactory(network=network, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    url = f"/admin/networks/network/{network.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"settings": '{"project_quotas": {"sandboxes": "abc"}}', "branding": "{}"})
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    assert "settings" in response.context["adminform"].form.errors
    network.refresh_from_db()
    assert network.settings == {}
