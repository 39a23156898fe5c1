"""The Stripe admin screens open for staff, show no secrets, and reprocess a failed event."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import InboundWebhook
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory

from .stripe_factories import credit_entry, org_account

pytestmark = pytest.mark.django_db

MODELS = [
    "billingstripeaccount",
    "subscriptionaccount",
    "creditledgerentry",
    "billingcheckoutsession",
    "billinginvoice",
    "connectpayout",
    "usagereport",
    "billingplan",
    "stripeevent",
    "seatchange",
]


@pytest.fixture
def staff_client(network, settings):
    settings.STRIPE_API_KEY = "sk_test_admin_page_secret_123456"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_admin_page_secret_123456"
    staff = UserFactory(network=network, is_staff=True, is_superuser=True)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    return client


def test_every_stripe_admin_page_opens_without_secrets(staff_client, user, plans):
    account = org_account(
        OrganizationFactory(network=user.network, owner=user), stripe_subscription_id="sub_admin", plan="team"
    )
    credit_entry(account, 700, "admin-1")
    InboundWebhook.objects.create(
        source="stripe", external_id="evt_admin", payload={"type": "invoice.paid"}, signature_valid=True
    )
    for model in MODELS:
        response = staff_client.get(reverse(f"admin:billing_{model}_changelist"))
        assert response.status_code == 200, model
        assert b"sk_test_admin_page_secret" not in response.content and b"whsec_admin" not in response.content
    assert (
        staff_client.get(reverse("admin:billing_billingstripeaccount_change", args=[account.pk])).status_code
        == 200
    )
    hook = InboundWebhook.objects.get(external_id="evt_admin")
    page = staff_client.get(reverse("admin:billing_stripeevent_change", args=[hook.pk]))
    assert page.status_code == 200 and b"invoice.paid" in page.content


def test_reprocess_action_puts_a_failed_event_back_to_work(staff_client, django_capture_on_commit_callbacks):
    hook = InboundWebhook.objects.create(
        source="stripe", external_id="evt_failed", payload={"id": "evt_failed", "type": "charge.refunded", "created": 1, "data": {"object": {}}},
        signature_valid=True, status="failed", attempts=5,
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:billing_stripeevent_changelist"),
            {"action": "reprocess", "_selected_action": [str(hook.pk)]},
        )
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.status == "ignored" and "unhandled" in hook.error  # processed again by the task
