"""GET/PUT/PATCH /api/v1/account/preferences/: client JSON with size, depth and version rules."""

import pytest
from django.conf import settings

from apps.preferences.models import UserPreferences

pytestmark = pytest.mark.django_db

URL = "/api/v1/account/preferences/"


def test_get_before_any_write_is_empty_version_zero(user_client, user):
    response = user_client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"data": {}, "version": 0, "updated_at": None}
    assert not UserPreferences.objects.filter(user=user).exists()


def test_put_replaces_and_bumps_version(user_client, user):
    first = user_client.put(URL, {"data": {"theme": "dark", "sidebar": {"open": True}}}, format="json")
    assert first.status_code == 200
    assert first.json()["version"] == 1
    second = user_client.put(URL, {"data": {"theme": "light"}, "version": 1}, format="json")
    assert second.json() == {**second.json(), "data": {"theme": "light"}, "version": 2}
    assert UserPreferences.objects.get(user=user).network_id == user.network_id


def test_patch_merges_like_json_merge_patch(user_client):
    user_client.put(URL, {"data": {"theme": "dark", "sidebar": {"open": True, "width": 240}}}, format="json")
    response = user_client.patch(
        URL, {"data": {"sidebar": {"width": None, "pinned": ["a"]}, "lang": "fr"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["data"] == {
        "theme": "dark",
        "sidebar": {"open": True, "pinned": ["a"]},
        "lang": "fr",
    }
    assert response.json()["version"] == 2


def test_stale_version_is_409_and_changes_nothing(user_client, user):
    user_client.put(URL, {"data": {"theme": "dark"}}, format="json")
    user_client.put(URL, {"data": {"theme": "light"}, "version": 1}, format="json")
    response = user_client.patch(URL, {"data": {"theme": "blue"}, "version": 1}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "stale_version"
    assert response.json()["current_version"] == 2
    row = UserPreferences.objects.get(user=user)
    assert (row.data, row.version) == ({"theme": "light"}, 2)


def test_oversized_preferences_are_400(user_client, user):
    big = "x" * (settings.USER_PREFERENCES_MAX_BYTES + 1)
    response = user_client.put(URL, {"data": {"blob": big}}, format="json")
    assert response.status_code == 400
    assert "data" in response.json()
    assert not UserPreferences.objects.filter(user=user).exists()


def test_patch_that_grows_past_the_limit_is_400_and_keeps_the_old_data(user_client, user):
    half = "x" * (settings.USER_PREFERENCES_MAX_BYTES // 2 + 100)
    user_client.put(URL, {"data": {"a": half}}, format="json")
    response = user_client.patch(URL, {"data": {"b": half}}, format="json")
    assert response.status_code == 400
    assert UserPreferences.objects.get(user=user).data == {"a": half}


def test_too_deep_nesting_is_400(user_client):
    deep: dict = {}
    node = deep
    for _ in range(12):
        node["k"] = {}
        node = node["k"]
    response = user_client.put(URL, {"data": deep}, format="json")
    assert response.status_code == 400
    assert "data" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        {"data": ["not", "an", "object"]},
        {"data": "text"},
        {"data": {"a": 1}, "version": -1},
        {"data": {"a": 1}, "version": "one"},
        {"version": 1},
        {"data": {"a": 1}, "extra": True},
    ],
)
def test_bad_bodies_are_400(user_client, user, body):
    assert user_client.put(URL, body, format="json").status_code == 400
    assert user_client.patch(URL, body, format="json").status_code == 400
    assert not UserPreferences.objects.filter(user=user).exists()


def test_malformed_and_hugely_nested_json_are_400(user_client):
    assert user_client.generic("PUT", URL, '{"data": ', content_type="application/json").status_code == 400
    nested = '{"data": ' + "[" * 50_000
    assert user_client.generic("PUT", URL, nested, content_type="application/json").status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        '{"data": {"theme\\u0000": "dark"}}',
        '{"data": {"theme": "da\\u0000rk"}}',
        '{"data": {"l": ["\\ud800"]}}',
    ],
)
def test_text_postgres_cannot_store_is_400_and_changes_nothing(user_client, user, raw):
    response = user_client.put(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert not UserPreferences.objects.filter(user=user).exclude(data={}).exists()
