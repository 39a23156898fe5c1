"""RFC 8058 one-click unsubscribe (no login, no CSRF, always 200, idempotent) and the confirm page."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.mailing.models import EmailCampaign, EmailSuppression, EmailUnsubscribeToken
from apps.mailing.services.sending import Row, _ensure_tokens, unsubscribe_token
from apps.preferences.models import UserSettings

from .factories import CampaignFactory, SendFactory, opted_in_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(network):
    user = opted_in_user(network)
    campaign = CampaignFactory(network=network)
    send = SendFactory(campaign=campaign, email=user.email, user=user)
    _ensure_tokens(campaign, [Row(send.pk, send.email, user.pk, None)])
    return unsubscribe_token(send.pk), user, campaign


def test_one_click_post_needs_no_login_or_csrf_and_is_idempotent(token):
    raw, user, campaign = token
    client = Client(enforce_csrf_checks=True)
    url = f"/api/v1/email-unsubscribe/{raw}/"
    for _ in range(2):
        response = client.post(
            url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 200
    row = EmailSuppression.objects.get(email=user.email)
    assert (row.scope, row.reason) == ("campaigns", "unsubscribe")
    assert UserSettings.objects.get(user=user).marketing_emails is False
    assert EmailCampaign.objects.get(pk=campaign.pk).unsubscribed_count == 1
    assert EmailUnsubscribeToken.objects.get().used_at is not None


def test_an_unknown_token_also_answers_200_and_changes_nothing(db):
    response = Client(enforce_csrf_checks=True).post("/api/v1/email-unsubscribe/not-a-token/")
    assert response.status_code == 200
    assert not EmailSuppression.objects.exists()


def test_get_never_unsubscribes(token):
    raw, user, _campaign = token
    api = Client().get(f"/api/v1/email-unsubscribe/{raw}/")
    assert api.status_code == 302 and api["Location"].endswith(f"/unsubscribe/{raw}/")
    page = Client().get(f"/unsubscribe/{raw}/")
    assert page.status_code == 200 and b"<form" in page.content and user.email.encode() in page.content
    assert not EmailSuppression.objects.exists()


def test_the_confirm_page_post_unsubscribes(token):
    raw, user, _campaign = token
    response = Client().post(f"/unsubscribe/{raw}/")
    assert response.status_code == 200 and b"will receive no more" in response.content
    assert EmailSuppression.objects.filter(email=user.email, scope="campaigns").exists()
