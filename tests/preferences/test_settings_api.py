"""GET/PATCH /api/v1/account/settings/: lazy row, validated fields, unknown fields refused."""

import pytest

from apps.preferences.models import UserSettings

pytestmark = pytest.mark.django_db

URL = "/api/v1/account/settings/"


def test_get_returns_defaults_without_creating_a_row(user_client, user):
    response = user_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "UTC"
    assert body["locale"] == "en"
    assert body["email_digest"] == "daily"
    assert body["marketing_emails"] is False
    assert body["notification_choices"] == {}
    assert not UserSettings.objects.filter(user=user).exists()


def test_patch_creates_the_row_in_the_users_network(user_client, user):
    response = user_client.patch(
        URL,
        {
            "timezone": "Europe/Berlin",
            "locale": "de",
            "notification_choices": {"mention": {"push": True, "email": False}, "dm": {"in_app": True}},
            "email_digest": "weekly",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "marketing_emails": True,
            "allow_dms_from": "following",
            "profile_visibility": "public",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    row = UserSettings.objects.get(user=user)
    assert row.network_id == user.network_id
    assert row.timezone == "Europe/Berlin"
    assert row.notification_choices["mention"] == {"push": True, "email": False}
    assert str(row.quiet_start) == "22:00:00"
    assert response.json()["allow_dms_from"] == "following"


def test_patch_twice_keeps_one_row_and_untouched_fields(user_client, user):
    user_client.patch(URL, {"timezone": "Asia/Tokyo"}, format="json")
    response = user_client.patch(URL, {"marketing_emails": True}, format="json")
    assert response.json()["timezone"] == "Asia/Tokyo"
    assert UserSettings.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"locale": "xx-yy"}, "locale"),
        ({"email_digest": "hourly"}, "email_digest"),
        ({"allow_dms_from": "friends"}, "allow_dms_from"),
        ({"profile_visibility": "secret"}, "profile_visibility"),
        ({"notification_choices": ["push"]}, "notification_choices"),
        ({"notification_choices": {"mention": {"sms": True}}}, "notification_choices"),
        ({"notification_choices": {"mention": {"push": "yes"}}}, "notification_choices"),
        ({"notification_choices": {"Bad Kind!": {"push": True}}}, "notification_choices"),
        ({"notification_choices": {"mention": {}}}, "notification_choices"),
        ({"quiet_start": "25:00"}, "quiet_start"),
        ({"quiet_start": "22:00"}, "quiet_end"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, "quiet_end"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
        ({"updated_at": "2020-01-01T00:00:00Z"}, "updated_at"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(user_client, user, body, field):
    response = user_client.patch(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not UserSettings.objects.filter(user=user).exists()


def test_malformed_json_is_400(user_client):
    response = user_client.generic("PATCH", URL, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_deeply_nested_json_is_400_not_500(user_client):
    response = user_client.generic("PATCH", URL, "[" * 100_000, content_type="application/json")
    assert response.status_code == 400


def test_anonymous_is_refused(api_client):
    assert api_client.get(URL).status_code in (401, 403)


def test_settings_are_per_user(user_client, other_client, user, other_user):
    user_client.patch(URL, {"timezone": "Asia/Tokyo"}, format="json")
    assert other_client.get(URL).json()["timezone"] == "UTC"
