"""Payouts through one rail interface: Stripe Connect transfers (against the local Stripe stub)
and the on-chain rail settled by the signer's signed report; the fresh-session rule."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct
from rest_framework.test import APIClient

from apps.accounts.selectors import MFA_SESSION_KEY
from apps.billing.services.stripe_accounts import account_for, start_connect_onboarding
from apps.bounties import ledger, services
from apps.bounties.models import PayoutRequest, TreasuryTransaction
from apps.core.exceptions import InvalidState, ValidationFailed
from apps.projects import signing
from tests.accounts.helpers import enable_totp
from tests.apikeys.factories import issue_key

from .conftest import fresh_client
from .factories import funded_balance

pytestmark = pytest.mark.django_db
HASH = "0x" + "ab" * 32


def _connect(user, stripe_server, *, enabled=True):
    account = account_for(network_id=user.network_id, owner_user_id=user.pk)
    start_connect_onboarding(actor=user, account=account)
    account.refresh_from_db()
    stripe_server.set_account(account.stripe_connect_account_id, payouts_enabled=enabled)
    account.connect_payouts_enabled = enabled
    account.save(update_fields=["connect_payouts_enabled"])
    return account


def _stripe_payout(user, balance, key="s1", amount=5_000):
    return services.request_payout(actor=user, balance=balance, amount_minor=amount, idempotency_key=key,
                                   method="stripe_connect")  # fmt: skip


def test_a_connect_payout_is_one_transfer_keyed_by_the_request_and_settles(user, staff, stripe_server):
    account = _connect(user, stripe_server)
    balance = funded_balance(user, amount=20_000)
    payout = _stripe_payout(user, balance)
    balance.refresh_from_db()
    assert payout.status == "requested" and balance.available_minor == 15_000  # held on request
    services.approve_payout(actor=staff, payout=payout)
    assert services.process_payouts() == 1
    payout.refresh_from_db()
    (call,) = stripe_server.calls("POST", "/v1/transfers")
    assert call.headers["Idempotency-Key"] == f"payout:{payout.pk}:transfer"
    assert call.params["destination"] == account.stripe_connect_account_id and call.params["amount"] == "5000"
    assert payout.status == "settled" and payout.external_ref.startswith("tr_")
    settle = TreasuryTransaction.objects.get(kind="payout_settle")
    assert settle.external_ref == payout.external_ref and settle.amount_minor == 5_000
    assert services.process_payouts() == 0 and ledger.reconcile()["ok"]


def test_a_transient_stripe_failure_stays_processing_and_the_retry_sends_once(user, staff, stripe_server):
    _connect(user, stripe_server)
    balance = funded_balance(user, amount=20_000)
    payout = _stripe_payout(user, balance)
    services.approve_payout(actor=staff, payout=payout)
    stripe_server.fail_next("/v1/transfers", "server_error")
    services.process_payouts()
    payout.refresh_from_db()
    assert (
        payout.status == "processing"
        and not TreasuryTransaction.objects.filter(kind="payout_settle").exists()
    )
    assert services.process_payouts() == 0  # not yet due for a retry
    PayoutRequest.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert services.process_payouts() == 1
    payout.refresh_from_db()
    assert payout.status == "settled"
    transfers = [o for o in stripe_server.objects.values() if o.get("object") == "transfer"]
    assert len(transfers) == 1


def test_a_refused_transfer_fails_the_payout_and_returns_the_funds(user, staff, stripe_server):
    account = _connect(user, stripe_server)
    balance = funded_balance(user, amount=20_000)
    payout = _stripe_payout(user, balance)
    services.approve_payout(actor=staff, payout=payout)
    stripe_server.set_account(account.stripe_connect_account_id, payouts_enabled=False)  # Stripe knows better
    services.process_payouts()
    payout.refresh_from_db()
    balance.refresh_from_db()
    assert payout.status == "failed" and "refused" in payout.failure_reason
    assert balance.available_minor == 20_000 and ledger.reconcile()["ok"]


def test_connect_payouts_need_an_enabled_account_and_a_fiat_asset(user, stripe_server):
    balance = funded_balance(user, amount=20_000)
    with pytest.raises(InvalidState) as refused:
        _stripe_payout(user, balance)
    assert refused.value.code == "connect_not_enabled"
    _connect(user, stripe_server, enabled=False)
    with pytest.raises(InvalidState):
        _stripe_payout(user, balance, key="s2")
    usdc = funded_balance(user, amount=50_000_000, asset="USDC-BASE")
    with pytest.raises(ValidationFailed):
        _stripe_payout(user, usdc, key="s3", amount=10_000_000)
    with pytest.raises(ValidationFailed):  # a fiat balance is not paid on chain
        services.request_payout(actor=user, balance=balance, amount_minor=5_000, idempotency_key="s4")
    balance.refresh_from_db()
    assert balance.available_minor == 20_000 and not PayoutRequest.objects.exists()


# --- on-chain: the signer's signed report ------------------------------------------------------


@pytest.fixture
def wallet(user):
    account = Account.create()
    wallet = services.add_wallet(actor=user, chain="base", address=account.address)
    message = services.challenge_wallet(actor=user, wallet=wallet)
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()
    return services.verify_wallet(actor=user, wallet=wallet, signature=signature)


@pytest.fixture
def onchain(user, staff, wallet, settings):
    settings.INFRA_WEBHOOK_SECRET = "infra-test-secret"
    balance = funded_balance(user, amount=50_000_000, asset="USDC-BASE")
    payout = services.request_payout(actor=user, balance=balance, amount_minor=10_000_000, idempotency_key="o1",
                                     wallet=wallet)  # fmt: skip
    services.approve_payout(actor=staff, payout=payout)
    services.process_payouts()
    payout.refresh_from_db()
    assert payout.status == "processing"
    return payout


def _report(body: dict, *, secret_ok: bool = True):
    raw = json.dumps(body).encode()
    ts = str(int(time.time()))
    sig = signing.sign(ts, raw) if secret_ok else "0" * 64
    return APIClient().generic("POST", "/api/v1/webhooks/onchain-payouts/", raw, content_type="application/json",
                               headers={signing.TIMESTAMP_HEADER: ts, signing.SIGNATURE_HEADER: sig})  # fmt: skip


def test_the_signer_reports_confirmations_and_the_payout_settles_once(onchain):
    first = _report({"payout_id": str(onchain.pk), "tx_hash": HASH, "confirmations": 3})
    assert first.status_code == 200, first.content
    onchain.refresh_from_db()
    assert onchain.status == "processing" and onchain.external_ref == HASH and onchain.confirmations == 3
    assert _report({"payout_id": str(onchain.pk), "tx_hash": HASH, "confirmations": 1}).status_code == 200
    onchain.refresh_from_db()
    assert onchain.confirmations == 3  # confirmations only grow
    for _ in range(2):
        done = _report(
            {"payout_id": str(onchain.pk), "tx_hash": HASH, "confirmations": 12, "status": "confirmed"}
        )
        assert done.status_code == 200 and done.json()["status"] == "settled"
    assert TreasuryTransaction.objects.filter(kind="payout_settle", external_ref=HASH).count() == 1
    assert ledger.reconcile()["ok"]


def test_bad_reports_are_refused_and_change_nothing(onchain):
    unsigned = _report({"payout_id": str(onchain.pk), "tx_hash": HASH, "confirmations": 12}, secret_ok=False)
    assert unsigned.status_code == 403
    assert _report({"payout_id": str(onchain.pk), "tx_hash": "0x12", "confirmations": 12}).status_code == 400
    assert _report({"payout_id": str(onchain.pk), "tx_hash": HASH, "confirmations": -1}).status_code == 400
    assert _report({"payout_id": "not-a-uuid", "tx_hash": HASH}).status_code == 400
    assert _report({"payout_id": "0190d5a0-0000-7000-8000-000000000000", "tx_hash": HASH}).status_code == 404
    _report({"payout_id": str(onchain.pk), "tx_hash": HASH, "confirmations": 1})
    other = _report({"payout_id": str(onchain.pk), "tx_hash": "0x" + "cd" * 32, "confirmations": 12})
    assert other.status_code == 409 and other.json()["code"] == "tx_hash_mismatch"
    onchain.refresh_from_db()
    assert (
        onchain.status == "processing"
        and not TreasuryTransaction.objects.filter(kind="payout_settle").exists()
    )


def test_a_reported_failure_returns_the_funds(onchain):
    response = _report(
        {"payout_id": str(onchain.pk), "tx_hash": HASH, "status": "failed", "reason": "reverted"}
    )
    assert response.status_code == 200 and response.json()["status"] == "failed"
    onchain.balance.refresh_from_db()
    assert onchain.balance.available_minor == 50_000_000 and ledger.reconcile()["ok"]
    late = _report({"payout_id": str(onchain.pk), "tx_hash": HASH, "confirmations": 12})
    assert late.status_code == 409


# --- the fresh-session rule --------------------------------------------------------------------

URL = "/api/v1/payout-requests/"


def _body(balance, wallet):
    return {"balance": str(balance.pk), "amount_minor": 10_000_000, "wallet": str(wallet.pk)}


def test_a_payout_needs_a_fresh_session(user, user_client, wallet):
    balance = funded_balance(user, amount=50_000_000, asset="USDC-BASE")
    stale = user_client.post(URL, _body(balance, wallet), format="json", headers={"Idempotency-Key": "a"})
    assert stale.status_code == 401 and stale.json()["code"] == "reauthentication_required"
    token = issue_key(user, scopes=["payouts:write", "wallets:read"]).token
    keyed = APIClient().post(URL, _body(balance, wallet), format="json",
                             headers={"Idempotency-Key": "b", "Authorization": f"Bearer {token}"})  # fmt: skip
    assert keyed.status_code == 403 and keyed.json()["code"] == "session_required"
    assert not PayoutRequest.objects.exists()
    fresh = fresh_client(user).post(
        URL, _body(balance, wallet), format="json", headers={"Idempotency-Key": "c"}
    )
    assert fresh.status_code == 201, fresh.content


def test_a_payout_needs_the_second_factor_where_enrolled(user, wallet):
    balance = funded_balance(user, amount=50_000_000, asset="USDC-BASE")
    device, _ = enable_totp(user)
    without = fresh_client(user).post(
        URL, _body(balance, wallet), format="json", headers={"Idempotency-Key": "a"}
    )
    # refused by the API's 2FA gate (401) before the payout's own check (403 mfa_required)
    assert without.status_code in (401, 403) and "mfa" in without.json()["code"]
    assert not PayoutRequest.objects.exists()
    passed = fresh_client(user, **{MFA_SESSION_KEY: device.pk})
    response = passed.post(URL, _body(balance, wallet), format="json", headers={"Idempotency-Key": "b"})
    assert response.status_code == 201, response.content


def test_beyond_the_balance_is_409_insufficient_funds_and_nothing_is_written(user, wallet):
    balance = funded_balance(user, amount=6_000_000, asset="USDC-BASE")
    response = fresh_client(user).post(
        URL, _body(balance, wallet), format="json", headers={"Idempotency-Key": "a"}
    )
    assert response.status_code == 409 and response.json()["code"] == "insufficient_funds"
    assert not PayoutRequest.objects.exists()
    balance.refresh_from_db()
    assert balance.available_minor == 6_000_000
