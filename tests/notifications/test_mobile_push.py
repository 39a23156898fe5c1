"""FCM HTTP v1 and APNs senders against local servers that verify the JWTs with the public keys."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.notifications import apns, delivery, fcm, services
from apps.notifications.models import Notification, PushNotificationToken
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

ANDROID = "eX4mPle-fcm-registration-token:APA91bH" + "x" * 100
IPHONE = "a1b2c3d4" * 8


def _register(user, token, platform="android"):
    row, _ = services.register_push_token(actor=user, platform=platform, token=token)
    return row


def _notify(user, key="k1", capture=None):
    with capture(execute=True):
        services.notify(
            recipient=user,
            kind="mention",
            title="Ada mentioned you",
            body="in #general: hello",
            data={"url": "/chat/c/1"},
            dedupe_key=key,
        )
    return Notification.objects.get(recipient=user, channel="push", dedupe_key=key)


# --- FCM ------------------------------------------------------------------------------


def test_fcm_send_with_a_verified_assertion_and_a_cached_access_token(
    network, fcm_server, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    _register(user, ANDROID)
    row = _notify(user, capture=django_capture_on_commit_callbacks)
    assert (row.status, row.attempts) == ("sent", 1)
    [exchange] = fcm_server.exchanges  # the server verified the RS256 JWT with the public key
    assert exchange["header"] == {"alg": "RS256", "typ": "JWT", "kid": fcm_server.key_id}
    assert exchange["claims"]["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert exchange["claims"]["exp"] - exchange["claims"]["iat"] == 3600
    [sent] = fcm_server.for_device(ANDROID)
    assert sent.access_token == exchange["access_token"]
    assert sent.message["notification"] == {"title": "Ada mentioned you", "body": "in #general: hello"}
    assert sent.message["data"]["url"] == "/chat/c/1"
    assert json.loads(sent.message["data"]["data"]) == {"url": "/chat/c/1"}
    assert all(isinstance(v, str) for v in sent.message["data"].values())  # FCM data is a string map
    assert sent.message["data"]["notification_id"] == str(row.pk)
    # a second notice reuses the access token: still one exchange
    _notify(user, key="k2", capture=django_capture_on_commit_callbacks)
    assert len(fcm_server.exchanges) == 1 and len(fcm_server.for_device(ANDROID)) == 2


def test_fcm_access_token_is_cached_until_shortly_before_it_expires(network, fcm_server, user):
    token = _register(user, ANDROID)
    fcm_server.expires_in = 600
    before = time.time()
    assert services.send_test_push(actor=user, token=token).outcome == "sent"
    [(_, expires_at)] = fcm._tokens.values()
    assert before + 600 - fcm.EXPIRY_MARGIN - 1 <= expires_at <= time.time() + 600 - fcm.EXPIRY_MARGIN
    key = next(iter(fcm._tokens))
    fcm._tokens[key] = (fcm._tokens[key][0], time.time() - 1)  # its time is up
    assert services.send_test_push(actor=user, token=token).outcome == "sent"
    assert len(fcm_server.exchanges) == 2
    assert fcm_server.for_device(ANDROID)[1].access_token == fcm_server.exchanges[1]["access_token"]


def test_fcm_revoked_access_token_is_replaced_once(network, fcm_server, user):
    token = _register(user, ANDROID)
    assert services.send_test_push(actor=user, token=token).ok
    fcm_server.revoke_all()  # FCM now answers 401 to the cached token
    assert services.send_test_push(actor=user, token=token).ok
    assert fcm_server.unauthorized == 1 and len(fcm_server.exchanges) == 2


@pytest.mark.parametrize("status", [404, 403])
def test_fcm_unregistered_or_foreign_token_is_deleted(
    network, fcm_server, status, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    token = _register(user, ANDROID)
    fcm_server.answer(ANDROID, status)  # UNREGISTERED / SENDER_ID_MISMATCH
    row = _notify(user, capture=django_capture_on_commit_callbacks)
    assert not PushNotificationToken.objects.filter(pk=token.pk).exists()
    assert (row.status, row.skip_reason) == ("skipped", "no_device")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_fcm_throttling_and_server_errors_take_the_retry_path(
    network, fcm_server, status, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    token = _register(user, ANDROID)
    fcm_server.answer(ANDROID, status, status)
    start = timezone.now()
    row = _notify(user, capture=django_capture_on_commit_callbacks)
    assert row.status == "failed" and row.attempts == 1
    first_delay = (row.next_attempt_at - start).total_seconds()
    # 30 s backoff, or the 45 s the 429 asked for
    assert (45 if status == 429 else 30) <= first_delay < (45 if status == 429 else 30) + 10
    assert PushNotificationToken.objects.get(pk=token.pk).failure_count == 1  # kept, not deleted
    assert delivery.deliver_notification(notification_id=row.pk, now=row.next_attempt_at).status == "retry"
    row.refresh_from_db()
    assert row.attempts == 2 and row.status == "failed"
    assert delivery.deliver_notification(notification_id=row.pk, now=row.next_attempt_at).status == "sent"
    assert len(fcm_server.for_device(ANDROID)) == 3
    assert PushNotificationToken.objects.get(pk=token.pk).failure_count == 0


def test_fcm_refused_credentials_do_not_blame_the_device_or_leak(network, fcm_server, user, caplog):
    token = _register(user, ANDROID)
    fcm_server.token_answers.append(400)  # invalid_grant
    with caplog.at_level(logging.DEBUG):
        result = services.send_test_push(actor=user, token=token)
    assert result.outcome == "rejected" and not result.device_fault
    assert result.error == "FCM token endpoint answered 400"
    assert PushNotificationToken.objects.get(pk=token.pk).failure_count == 0
    secret = fcm_server.service_account()["private_key"]
    key_body = secret.splitlines()[1]
    assert key_body not in caplog.text and key_body not in repr(fcm.service_account())
    assert fcm_server.messages == []


def test_fcm_token_endpoint_outage_is_a_retry(network, fcm_server, user):
    token = _register(user, ANDROID)
    fcm_server.token_answers.append(503)
    assert services.send_test_push(actor=user, token=token).outcome == "retry"
    assert services.send_test_push(actor=user, token=token).outcome == "sent"


def test_fcm_credentials_from_a_file(network, fcm_server, user, settings, tmp_path):
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(fcm_server.service_account()))
    settings.FCM_SERVICE_ACCOUNT = str(path)
    assert services.send_test_push(actor=user, token=_register(user, ANDROID)).ok


def test_fcm_unusable_credentials_are_rejected_without_a_request(network, fcm_server, user, settings):
    token = _register(user, ANDROID)
    account = fcm_server.service_account()
    del account["client_email"]
    settings.FCM_SERVICE_ACCOUNT = json.dumps(account)
    result = services.send_test_push(actor=user, token=token)
    assert (result.outcome, result.device_fault) == ("rejected", False)
    assert "client_email" in result.error and fcm_server.exchanges == []


# --- APNs -----------------------------------------------------------------------------


def test_apns_send_with_a_verified_provider_token(network, apns_server, django_capture_on_commit_callbacks):
    user = UserFactory(network=network)
    _register(user, IPHONE, platform="ios")
    row = _notify(user, capture=django_capture_on_commit_callbacks)
    assert (row.status, row.attempts) == ("sent", 1)
    [request] = apns_server.for_device(IPHONE)  # the server verified the ES256 JWT with the public key
    assert request.claims["iss"] == apns_server.team_id
    assert request.headers["apns-topic"] == "org.colony.app"
    assert request.headers["apns-push-type"] == "alert"
    assert int(request.headers["apns-expiration"]) > time.time()
    assert request.body["aps"]["alert"] == {"title": "Ada mentioned you", "body": "in #general: hello"}
    assert request.body["data"] == {"url": "/chat/c/1"} and request.body["notification_id"] == str(row.pk)
    _notify(user, key="k2", capture=django_capture_on_commit_callbacks)
    second = apns_server.for_device(IPHONE)[1]
    assert second.provider_token == request.provider_token  # reused, not signed per request


def test_apns_provider_token_is_refreshed_before_an_hour(network, apns_server, user):
    token = _register(user, IPHONE, platform="ios")
    assert services.send_test_push(actor=user, token=token).ok
    key = next(iter(apns._tokens))
    signed, _ = apns._tokens[key]
    apns._tokens[key] = (signed, time.time() - apns.TOKEN_REFRESH - 1)  # 50 minutes old
    assert services.send_test_push(actor=user, token=token).ok
    first, second = apns_server.for_device(IPHONE)
    assert first.provider_token != second.provider_token
    assert apns.TOKEN_REFRESH < 3600


def test_apns_expired_provider_token_is_re_signed_once(network, apns_server, user):
    token = _register(user, IPHONE, platform="ios")
    key = (apns_server.team_id, apns_server.key_id)
    stale = apns.provider_token(now=time.time() - 2 * 3600)  # iat two hours ago, cached as fresh
    apns._tokens[key] = (stale, time.time())
    assert services.send_test_push(actor=user, token=token).ok
    assert apns_server.refused == ["ExpiredProviderToken"] and len(apns_server.requests) == 1


@pytest.mark.parametrize(("status", "reason"), [(410, "Unregistered"), (400, "BadDeviceToken")])
def test_apns_unregistered_or_bad_token_is_deleted(
    network, apns_server, status, reason, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    token = _register(user, IPHONE, platform="ios")
    apns_server.answer(IPHONE, (status, reason))
    row = _notify(user, capture=django_capture_on_commit_callbacks)
    assert not PushNotificationToken.objects.filter(pk=token.pk).exists()
    assert (row.status, row.skip_reason) == ("skipped", "no_device")


@pytest.mark.parametrize(("status", "reason"), [(429, "TooManyRequests"), (500, "InternalServerError"),
                                                (503, "ServiceUnavailable")])  # fmt: skip
def test_apns_throttling_and_server_errors_take_the_retry_path(
    network, apns_server, status, reason, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    token = _register(user, IPHONE, platform="ios")
    apns_server.answer(IPHONE, (status, reason))
    start = timezone.now()
    row = _notify(user, capture=django_capture_on_commit_callbacks)
    assert row.status == "failed" and row.next_attempt_at >= start + timedelta(seconds=30)
    assert reason in row.error
    assert PushNotificationToken.objects.filter(pk=token.pk).exists()
    assert delivery.deliver_notification(notification_id=row.pk, now=row.next_attempt_at).status == "sent"
    assert len(apns_server.for_device(IPHONE)) == 2


def test_apns_other_refusals_are_rejected_not_retried(network, apns_server, user):
    token = _register(user, IPHONE, platform="ios")
    apns_server.answer(IPHONE, (413, "PayloadTooLarge"))
    result = services.send_test_push(actor=user, token=token)
    assert (result.outcome, result.status) == ("rejected", 413)
    assert PushNotificationToken.objects.get(pk=token.pk).failure_count == 1


def test_apns_wrong_key_is_refused_by_the_server_and_not_the_devices_fault(
    network, apns_server, user, settings
):
    from cryptography.hazmat.primitives.asymmetric import ec

    from .mobilepush import pem

    token = _register(user, IPHONE, platform="ios")
    settings.APNS_KEY = pem(ec.generate_private_key(ec.SECP256R1()))  # not the key Apple holds
    result = services.send_test_push(actor=user, token=token)
    assert (result.outcome, result.status, result.device_fault) == ("rejected", 403, False)
    assert PushNotificationToken.objects.get(pk=token.pk).failure_count == 0
    assert apns_server.refused == ["InvalidProviderToken", "InvalidProviderToken"]  # re-signed once


def test_apns_device_token_cannot_escape_the_path(network, apns_server, user):
    token = _register(user, "abc/../../x?y=1", platform="ios")
    services.send_test_push(actor=user, token=token)
    assert [r.device for r in apns_server.requests] == ["abc/../../x?y=1"]


def test_unconfigured_providers_are_rejected_without_blaming_the_device(network, user, settings):
    settings.APNS_KEY = ""
    token = _register(user, IPHONE, platform="ios")
    result = services.send_test_push(actor=user, token=token)
    assert (result.outcome, result.error, result.device_fault) == (
        "rejected",
        "apns is not configured",
        False,
    )
    assert PushNotificationToken.objects.get(pk=token.pk).failure_count == 0
