"""/api/v1/notifications/ and /api/v1/push-tokens/: own rows only, strict subscription checks."""

from __future__ import annotations

import json

import pytest

from apps.notifications.models import PushNotificationToken
from tests.accounts.factories import UserFactory

from .factories import NotificationFactory, PushTokenFactory

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/push-tokens/"


def _subscription(endpoint="https://fcm.googleapis.com/fcm/send/abc123"):
    """A browser PushSubscription's shape, with a fresh P-256 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from .pushservice import b64url

    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(b"0123456789abcdef")}}


def test_register_a_web_subscription_and_again_is_one_row(user_client, user):
    sub = _subscription()
    response = user_client.post(
        TOKENS, {"platform": "web", "token": sub, "device_label": "Firefox"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["provider"] == "webpush" and body["token_hint"] == "fcm.googleapis.com"
    assert "token" not in body and sub["keys"]["auth"] not in json.dumps(body)
    again = user_client.post(TOKENS, {"platform": "web", "token": json.dumps(sub)}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    row = PushNotificationToken.objects.get()
    assert json.loads(row.token)["endpoint"] == sub["endpoint"]  # decrypts
    raw = PushNotificationToken._meta.get_field("token").raw_ciphertext(PushNotificationToken.objects.get())
    assert sub["keys"]["auth"].encode() not in raw  # encrypted at rest


def test_a_device_registered_by_someone_else_moves_to_me(user_client, user, network):
    sub = _subscription()
    other = UserFactory(network=network)
    from apps.notifications.services import register_push_token

    register_push_token(actor=other, platform="web", token=sub)
    response = user_client.post(TOKENS, {"platform": "web", "token": sub}, format="json")
    assert response.status_code == 200
    assert list(PushNotificationToken.objects.values_list("user_id", flat=True)) == [user.pk]


def test_device_tokens_for_apps(user_client):
    response = user_client.post(
        TOKENS, {"platform": "android", "token": "dGhpcyBpcyBhIGZjbSB0b2tlbg"}, format="json"
    )
    assert response.status_code == 201 and response.json()["provider"] == "fcm"
    assert response.json()["token_hint"] == "…tlbg"  # masked: the last four characters only
    response = user_client.post(TOKENS, {"platform": "ios", "token": "a1b2c3d4e5f6" * 5}, format="json")
    assert response.status_code == 201 and response.json()["provider"] == "apns"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"platform": "web", "token": {"endpoint": "not a url", "keys": {}}}, "invalid_endpoint"),
        ({"platform": "web", "token": {"endpoint": "ftp://push.example.com/x"}}, "invalid_endpoint"),
        (
            {"platform": "web", "token": {"endpoint": "http://push.example.com/x", "keys": {}}},
            "invalid_endpoint",
        ),
        ({"platform": "web", "token": {"endpoint": "https://127.0.0.1/push/x"}}, "endpoint_not_allowed"),
        ({"platform": "web", "token": {"endpoint": "https://10.1.2.3/push/x"}}, "endpoint_not_allowed"),
        ({"platform": "web", "token": {"endpoint": "https://[::1]/push/x"}}, "endpoint_not_allowed"),
        (
            {"platform": "web", "token": {"endpoint": "https://169.254.169.254/latest"}},
            "endpoint_not_allowed",
        ),
        ({"platform": "web", "token": {"endpoint": "https://localhost/push"}}, "endpoint_not_allowed"),
        ({"platform": "web", "token": {"endpoint": "https://push.example.com/x"}}, "missing_keys"),
        (
            {
                "platform": "web",
                "token": {
                    "endpoint": "https://push.example.com/x",
                    "keys": {"p256dh": "AAAA", "auth": "AAAA"},
                },
            },
            "invalid_key",
        ),
        ({"platform": "web", "token": "{not json"}, "invalid_subscription"),
        ({"platform": "web", "token": [1, 2]}, "invalid_subscription"),
        ({"platform": "android", "token": "has spaces in it"}, "invalid_token"),
        ({"platform": "android", "token": ""}, "invalid_token"),
        ({"platform": "ios", "token": "x", "provider": "webpush"}, "invalid_provider"),
    ],
)
def test_invalid_subscriptions_are_400(user_client, body, code):
    response = user_client.post(TOKENS, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json().get("code") == code or code in json.dumps(response.json())
    assert not PushNotificationToken.objects.exists()


def test_bad_key_material_is_400(user_client):
    sub = _subscription()
    sub["keys"]["auth"] = "c2hvcnQ"  # 5 bytes
    assert (
        user_client.post(TOKENS, {"platform": "web", "token": sub}, format="json").json()["code"]
        == "invalid_key"
    )
    sub = _subscription()
    sub["keys"]["p256dh"] = "BA" + "A" * 85  # 65 bytes but not a point on the curve
    assert user_client.post(TOKENS, {"platform": "web", "token": sub}, format="json").status_code == 400


def test_garbage_bodies_are_400_not_500(user_client):
    for body in (
        {},
        {"platform": "desktop", "token": "x"},
        {"platform": "web"},
        {"platform": None, "token": None},
    ):
        assert user_client.post(TOKENS, body, format="json").status_code == 400


def test_private_endpoints_are_allowed_only_when_configured(user_client, settings):
    settings.PUSH_ALLOW_PRIVATE_ENDPOINTS = True
    sub = _subscription("http://127.0.0.1:9/push/x")
    assert user_client.post(TOKENS, {"platform": "web", "token": sub}, format="json").status_code == 201


def test_unregister_my_device_and_not_someone_elses(user_client, user, network):
    mine = PushTokenFactory(user=user)
    theirs = PushTokenFactory(user=UserFactory(network=network))
    assert user_client.delete(f"{TOKENS}{theirs.pk}/").status_code == 404
    assert user_client.post(f"{TOKENS}{theirs.pk}/test/").status_code == 404
    assert user_client.delete(f"{TOKENS}{mine.pk}/").status_code == 204
    assert list(PushNotificationToken.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_vapid_key(user_client, settings):
    from .pushservice import generate_vapid_keys

    private, public = generate_vapid_keys()
    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = private, ""
    assert user_client.get(TOKENS + "vapid-key/").json() == {"public_key": public}  # derived
    settings.VAPID_PRIVATE_KEY = ""
    assert user_client.get(TOKENS + "vapid-key/").json() == {"public_key": ""}


def test_push_tokens_need_the_notifications_write_scope(api_client, user):
    from tests.apikeys.factories import issue_key

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_key(user, scopes=['inbox:write']).token}")
    assert api_client.get(TOKENS + "vapid-key/").status_code == 403
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {issue_key(user, scopes=['notifications:write']).token}"
    )
    assert api_client.get(TOKENS + "vapid-key/").status_code == 200


@pytest.mark.parametrize("size", [4, 30])
def test_notifications_list_is_mine_in_constant_queries(
    user_client, user, network, size, django_assert_max_num_queries
):
    for _ in range(size):
        NotificationFactory(recipient=user)
    NotificationFactory(recipient=UserFactory(network=network))
    with django_assert_max_num_queries(5):
        response = user_client.get("/api/v1/notifications/?page_size=50")
    assert response.status_code == 200
    assert len(response.json()["results"]) == size


def test_notifications_channel_filter(user_client, user):
    NotificationFactory(recipient=user, channel="in_app")
    NotificationFactory(recipient=user, channel="email", status="pending", sent_at=None)
    assert [
        r["channel"] for r in user_client.get("/api/v1/notifications/?channel=email").json()["results"]
    ] == ["email"]
    assert user_client.get("/api/v1/notifications/?channel=fax").status_code == 400


def test_admin_pages_are_read_only_and_never_show_the_token(client, network, user):
    from apps.inbox.models import InboxItem  # noqa: F401
    from tests.inbox.factories import InboxItemFactory

    staff = UserFactory(network=network, is_staff=True, is_superuser=True)
    client.force_login(staff)
    token = PushTokenFactory(user=user)
    NotificationFactory(recipient=user)
    item = InboxItemFactory(recipient=user)
    for url in (
        "/admin/notifications/pushnotificationtoken/",
        f"/admin/notifications/pushnotificationtoken/{token.pk}/change/",
        "/admin/notifications/notification/",
        "/admin/inbox/inboxitem/",
        f"/admin/inbox/inboxitem/{item.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert token.token not in response.content.decode()
    assert client.get("/admin/inbox/inboxitem/add/").status_code == 403
