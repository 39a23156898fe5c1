"""Transactional mail (apps/core/mail.py) honours only `all` suppressions; essential mail always goes."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from apps.core.mail import send_mail_on_commit
from apps.preferences.mail import send_account_mail_on_commit
from tests.accounts.factories import UserFactory

from .factories import SuppressionFactory

pytestmark = pytest.mark.django_db
TEMPLATE = "invites/emails/waitlist_status"


def _send(to, network, capture, **kwargs) -> bool:
    with capture(execute=True):
        return send_mail_on_commit(
            to=to,
            template=TEMPLATE,
            context={"status_url": "https://x/", "entry": None},
            network=network,
            **kwargs,
        )


def test_a_campaigns_suppression_does_not_stop_transactional_mail(
    network, django_capture_on_commit_callbacks
):
    SuppressionFactory(network=network, email="reader@example.com", scope="campaigns", reason="unsubscribe")
    assert _send("reader@example.com", network, django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [["reader@example.com"]]


def test_an_all_suppression_stops_transactional_mail(network, django_capture_on_commit_callbacks):
    SuppressionFactory(network=network, email="gone@example.com", scope="all", reason="hard_bounce")
    assert not _send("gone@example.com", network, django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_essential_mail_ignores_every_suppression(network, django_capture_on_commit_callbacks):
    SuppressionFactory(network=network, email="gone@example.com", scope="all", reason="complaint")
    assert _send("gone@example.com", network, django_capture_on_commit_callbacks, essential=True)
    with django_capture_on_commit_callbacks(execute=True):
        send_account_mail_on_commit(
            to="gone@example.com",
            template="email_change_notice",
            context={"user": UserFactory(network=network), "new_email": "n@example.com"},
            network=network,
        )
    assert len(mail.outbox) == 2


def test_password_reset_goes_to_a_hard_bounced_address(network):
    user = UserFactory(network=network, email="bounced@example.com")
    SuppressionFactory(network=network, email=user.email, scope="all", reason="hard_bounce")
    response = Client().post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [[user.email]]
