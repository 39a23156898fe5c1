"""The staff credit form in the admin: through the ledger service, reason required, audited, never
below zero (a form error, not a 500), a double submit credits once."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from apps.billing.models import CreditLedgerEntry
from apps.core.models import AuditEvent
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory

from .stripe_factories import credit_entry, org_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(network):
    return UserFactory(network=network, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff):
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    return client


@pytest.fixture
def account(user):
    return org_account(OrganizationFactory(network=user.network, owner=user))


def _url(account):
    return reverse("admin:billing_billingstripeaccount_credit", args=[account.pk])


def _key_of(page) -> str:
    return re.search(rb'name="idempotency_key" value="([0-9a-f-]+)"', page.content).group(1).decode()


def test_the_form_grants_credit_once_on_a_double_submit(staff_client, staff, account):
    change_page = staff_client.get(reverse("admin:billing_billingstripeaccount_change", args=[account.pk]))
    assert change_page.status_code == 200 and _url(account).encode() in change_page.content
    page = staff_client.get(_url(account))
    assert page.status_code == 200
    form = {"amount_minor": "2500", "reason": "goodwill after the outage", "idempotency_key": _key_of(page)}
    first = staff_client.post(_url(account), form)
    second = staff_client.post(_url(account), form)  # the same form sent twice
    assert first.status_code == second.status_code == 302
    account.refresh_from_db()
    assert account.credit_balance_minor == 2500
    (entry,) = CreditLedgerEntry.objects.filter(account=account)
    assert (entry.kind, entry.amount_minor, entry.memo, entry.created_by) == (
        "adjustment",
        2500,
        "goodwill after the outage",
        staff,
    )
    (event,) = AuditEvent.objects.filter(action="billing.credits_adjusted")
    assert event.actor == staff and event.target_id == account.pk
    assert event.data["amount_minor"] == 2500 and event.data["reason"] == "goodwill after the outage"
    # a fresh form (a new key) is a new adjustment
    again = staff_client.get(_url(account))
    assert _key_of(again) != form["idempotency_key"]


def test_a_negative_adjustment_past_the_balance_is_a_form_error(staff_client, account):
    credit_entry(account, 700, "topup-1")
    form = {"amount_minor": "-701", "reason": "refund", "idempotency_key": str(uuid.uuid4())}
    response = staff_client.post(_url(account), form)
    assert response.status_code == 200 and b"too low" in response.content
    account.refresh_from_db()
    assert account.credit_balance_minor == 700
    ok = staff_client.post(
        _url(account), {**form, "amount_minor": "-700", "idempotency_key": str(uuid.uuid4())}
    )
    assert ok.status_code == 302
    account.refresh_from_db()
    assert account.credit_balance_minor == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reason", ""),
        ("reason", "   "),
        ("amount_minor", "0"),
        ("amount_minor", "abc"),
        ("idempotency_key", "x"),
    ],
)
def test_bad_input_is_a_form_error_and_moves_nothing(staff_client, account, field, value):
    form = {"amount_minor": "100", "reason": "grant", "idempotency_key": str(uuid.uuid4()), field: value}
    response = staff_client.post(_url(account), form)
    assert response.status_code == 200 and b"errorlist" in response.content
    assert not CreditLedgerEntry.objects.filter(account=account).exists()
    assert not AuditEvent.objects.filter(action="billing.credits_adjusted").exists()


def test_a_reused_key_with_another_amount_is_refused(staff_client, account):
    key = str(uuid.uuid4())
    staff_client.post(_url(account), {"amount_minor": "100", "reason": "grant", "idempotency_key": key})
    response = staff_client.post(
        _url(account), {"amount_minor": "900", "reason": "grant", "idempotency_key": key}
    )
    assert response.status_code == 200 and b"already submitted" in response.content
    account.refresh_from_db()
    assert account.credit_balance_minor == 100


def test_non_staff_cannot_open_the_form(user, account):
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    response = client.post(
        _url(account), {"amount_minor": "100", "reason": "x", "idempotency_key": str(uuid.uuid4())}
    )
    assert response.status_code in (302, 403)
    assert not CreditLedgerEntry.objects.filter(account=account).exists()


def test_an_unknown_account_is_404(staff_client):
    response = staff_client.get(reverse("admin:billing_billingstripeaccount_credit", args=[uuid.uuid4()]))
    assert response.status_code in (302, 404)
