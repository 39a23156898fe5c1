"""SES events through SNS: signature verification, once per message id, suppressions, forward-only counters."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import InboundWebhook
from apps.mailing.models import EmailCampaign, EmailSend, EmailSuppression
from apps.preferences.models import UserSettings
from tests.accounts.factories import UserFactory

from .factories import CampaignFactory, SendFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/webhooks/ses/"


def _post(body, client=None):
    client = client or APIClient()
    return client.post(URL, json.dumps(body), content_type="text/plain; charset=UTF-8")


def _event(kind: str, send: EmailSend, **section) -> dict:
    event = {"eventType": kind, "mail": {"messageId": send.ses_message_id, "destination": [send.email]}}
    if kind == "Bounce":
        event["bounce"] = {
            "bounceType": section.get("bounce_type", "Permanent"),
            "bounceSubType": section.get("subtype", "General"),
            "bouncedRecipients": [{"emailAddress": send.email}],
            "timestamp": timezone.now().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
    if kind == "Complaint":
        event["complaint"] = {"complainedRecipients": [{"emailAddress": send.email}]}
    return event


@pytest.fixture
def send(network):
    campaign = CampaignFactory(network=network, status="sending", sent_count=1)
    return SendFactory(campaign=campaign, email="reader@example.com")


def test_permanent_bounce_suppresses_for_all_mail_and_counts_once(
    sns_signer, send, django_capture_on_commit_callbacks
):
    message = sns_signer.notification(_event("Bounce", send))
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(message)
    with django_capture_on_commit_callbacks(execute=True):
        again = _post(message)  # SNS delivers at least once
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    send.refresh_from_db()
    assert send.status == "bounced" and send.bounce_type == "permanent" and send.bounced_at
    row = EmailSuppression.objects.get(email="reader@example.com")
    assert (row.scope, row.reason, row.network_id) == ("all", "hard_bounce", send.network_id)
    assert EmailCampaign.objects.get(pk=send.campaign_id).bounced_count == 1
    webhook = InboundWebhook.objects.get(source="ses")
    assert webhook.status == "processed" and webhook.network_id == send.network_id


def test_forged_or_unsigned_messages_are_refused_and_nothing_is_stored(sns_signer, send):
    good = sns_signer.notification(_event("Bounce", send))
    forged = {**good, "Message": good["Message"].replace("Permanent", "Transient")}
    unsigned = {k: v for k, v in good.items() if k != "Signature"}
    foreign_cert = {**good, "SigningCertURL": "http://evil.example.com/cert.pem"}
    for body in (forged, unsigned, foreign_cert, {**good, "SignatureVersion": "3"}):
        response = _post(body)
        assert response.status_code == 401, body
        assert response.json()["code"] == "invalid_signature"
    for body in ("not json", json.dumps([1, 2])):
        assert APIClient().post(URL, body, content_type="text/plain").status_code in (400, 401)
    assert not InboundWebhook.objects.exists() and not EmailSuppression.objects.exists()


def test_signature_version_2_and_the_certificate_is_fetched_once(
    sns_signer, send, django_capture_on_commit_callbacks
):
    cache.clear()
    for kind in ("Delivery", "Open"):
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(sns_signer.notification(_event(kind, send), version="2")).status_code == 200
    assert [hit for hit in sns_signer.hits if hit.endswith(".pem")] == ["/SimpleNotificationService-test.pem"]


def test_the_certificate_host_must_match_the_allowlist(sns_signer, send, settings):
    settings.SES_SNS_HOST_PATTERN = r"^sns\.[a-z0-9-]+\.amazonaws\.com$"
    assert _post(sns_signer.notification(_event("Bounce", send))).status_code == 401
    assert sns_signer.hits == []  # never fetched from a host outside the pattern


def test_subscription_confirmation_visits_the_subscribe_url(sns_signer, django_capture_on_commit_callbacks):
    url = f"{sns_signer.base_url}/?Action=ConfirmSubscription&Token=abc"
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(sns_signer.subscription(url)).status_code == 200
    assert any("ConfirmSubscription" in hit for hit in sns_signer.hits)
    assert InboundWebhook.objects.get().status == "processed"


def test_a_subscribe_url_outside_the_allowlist_is_not_visited(
    sns_signer, settings, django_capture_on_commit_callbacks
):
    message = sns_signer.subscription("http://198.51.100.7/confirm")
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(message).status_code == 200
    webhook = InboundWebhook.objects.get()
    assert webhook.status == "ignored" and "not allowed" in webhook.error


def test_transient_bounces_suppress_for_campaigns_after_the_limit(
    sns_signer, network, settings, django_capture_on_commit_callbacks
):
    settings.MAILING_SOFT_BOUNCE_LIMIT = 3
    sends = [
        SendFactory(campaign=CampaignFactory(network=network), email="soft@example.com") for _ in range(3)
    ]
    for index, row in enumerate(sends):
        with django_capture_on_commit_callbacks(execute=True):
            _post(sns_signer.notification(_event("Bounce", row, bounce_type="Transient")))
        suppressed = EmailSuppression.objects.filter(email="soft@example.com").first()
        assert (suppressed is not None) == (index == 2)
    assert (suppressed.scope, suppressed.reason) == ("campaigns", "soft_bounce") and suppressed.expires_at


def test_complaint_suppresses_everything_and_opts_the_user_out(
    sns_signer, network, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    UserSettings.objects.create(user=user, network=network, marketing_emails=True)
    row = SendFactory(
        campaign=CampaignFactory(network=network), email=user.email, user=user, status="delivered"
    )
    with django_capture_on_commit_callbacks(execute=True):
        _post(sns_signer.notification(_event("Complaint", row)))
    row.refresh_from_db()
    assert row.status == "complained"
    assert EmailSuppression.objects.get(email=user.email).reason == "complaint"
    assert UserSettings.objects.get(user=user).marketing_emails is False


def test_counters_only_move_forward(sns_signer, send, django_capture_on_commit_callbacks):
    for kind in ("Delivery", "Delivery", "Open", "Open", "Click"):
        with django_capture_on_commit_callbacks(execute=True):
            _post(sns_signer.notification(_event(kind, send)))
    with django_capture_on_commit_callbacks(execute=True):
        _post(sns_signer.notification(_event("Bounce", send)))
    with django_capture_on_commit_callbacks(execute=True):
        _post(sns_signer.notification(_event("Delivery", send)))  # late: never moves bounced back
    campaign = EmailCampaign.objects.get(pk=send.campaign_id)
    assert (
        campaign.delivered_count,
        campaign.opened_count,
        campaign.clicked_count,
        campaign.bounced_count,
    ) == (
        1,
        1,
        1,
        1,
    )
    send.refresh_from_db()
    assert send.status == "bounced" and send.delivered_at and send.opened_at and send.clicked_at


def test_bounces_past_the_error_ratio_pause_the_campaign(
    sns_signer, network, settings, django_capture_on_commit_callbacks
):
    settings.MAILING_ERROR_RATIO_MIN_SAMPLE = 4
    creator = UserFactory(network=network, network_role="admin")
    campaign = CampaignFactory(network=network, status="sending", created_by=creator, sent_count=4)
    rows = [SendFactory(campaign=campaign) for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        _post(sns_signer.notification(_event("Bounce", rows[0])))
    campaign.refresh_from_db()
    assert campaign.status == "paused" and "error ratio" in campaign.paused_reason


def test_an_unknown_message_id_is_recorded_as_ignored(
    sns_signer, network, django_capture_on_commit_callbacks
):
    ghost = EmailSend(email="x@example.com", ses_message_id="nobody-sent-this")
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(sns_signer.notification(_event("Bounce", ghost))).status_code == 200
    assert InboundWebhook.objects.get().status == "ignored"
    assert not EmailSuppression.objects.exists()
