"""Payouts (idempotent, reserved then settled or reversed) and wallets verified by signature."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from apps.bounties import ledger, services
from apps.bounties.models import BountyWallet, PayoutRequest, TreasuryTransaction
from apps.core.exceptions import InvalidState, ValidationFailed

from .factories import funded_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet(user):
    account = Account.create()
    wallet = services.add_wallet(actor=user, chain="base", address=account.address.lower())
    message = services.challenge_wallet(actor=user, wallet=wallet)
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()
    return services.verify_wallet(actor=user, wallet=wallet, signature=signature)


def test_a_wallet_is_stored_checksummed_and_verified_by_a_signed_nonce(user, wallet):
    from eth_utils import is_checksum_address

    assert wallet.status == "verified" and is_checksum_address(wallet.address)


def test_a_signature_by_another_key_does_not_verify(user):
    account, other = Account.create(), Account.create()
    wallet = services.add_wallet(actor=user, chain="base", address=account.address)
    message = services.challenge_wallet(actor=user, wallet=wallet)
    bad = other.sign_message(encode_defunct(text=message)).signature.hex()
    with pytest.raises(ValidationFailed):
        services.verify_wallet(actor=user, wallet=wallet, signature=bad)
    with pytest.raises(ValidationFailed):
        services.verify_wallet(actor=user, wallet=wallet, signature="0x00")  # not 65 bytes
    with pytest.raises(ValidationFailed):
        services.verify_wallet(actor=user, wallet=wallet, signature="0xnothex")
    assert BountyWallet.objects.get(pk=wallet.pk).status == "unverified"


@pytest.mark.parametrize("address", ["0x123", "not an address", "0xAbCdEf0000000000000000000000000000000000"])
def test_an_invalid_address_or_checksum_is_refused(user, address):
    with pytest.raises(ValidationFailed):
        services.add_wallet(actor=user, chain="base", address=address)


def _usdc(user, amount=50_000_000):
    return funded_balance(user, amount=amount, asset="USDC-BASE")


def test_a_payout_with_the_same_idempotency_key_is_requested_once(user, wallet):
    balance = _usdc(user)
    first = services.request_payout(actor=user, balance=balance, amount_minor=10_000_000, idempotency_key="p1",
                                    wallet=wallet)  # fmt: skip
    again = services.request_payout(actor=user, balance=balance, amount_minor=10_000_000, idempotency_key="p1",
                                    wallet=wallet)  # fmt: skip
    balance.refresh_from_db()
    assert first.pk == again.pk and PayoutRequest.objects.count() == 1
    assert balance.available_minor == 40_000_000
    with pytest.raises(InvalidState):  # the same key for another amount
        services.request_payout(actor=user, balance=balance, amount_minor=5_000_000, idempotency_key="p1",
                                wallet=wallet)  # fmt: skip


def test_settling_moves_clearing_to_external_once_and_failing_reverses(user, wallet, network):
    balance = _usdc(user)
    staff = type(user).objects.create(
        network=network, email="staff@example.com", handle="staff1", is_staff=True
    )
    a = services.request_payout(actor=user, balance=balance, amount_minor=10_000_000, idempotency_key="a",
                                wallet=wallet)  # fmt: skip
    b = services.request_payout(actor=user, balance=balance, amount_minor=10_000_000, idempotency_key="b",
                                wallet=wallet)  # fmt: skip
    assert a.status == "requested"  # above the network threshold (0): staff approves
    services.approve_payout(actor=staff, payout=a)
    services.settle_payout(actor=staff, payout=a, external_ref="0x" + "ab" * 32)
    services.settle_payout(actor=staff, payout=a, external_ref="0x" + "ab" * 32)
    services.approve_payout(actor=staff, payout=b)
    services.fail_payout(actor=staff, payout=b, reason="reverted on chain")
    balance.refresh_from_db()
    assert balance.available_minor == 40_000_000
    assert TreasuryTransaction.objects.filter(kind="payout_settle").count() == 1
    assert ledger.reconcile()["ok"]


def test_a_payout_below_the_minimum_or_to_an_unverified_wallet_is_refused(user, wallet):
    balance = _usdc(user)
    with pytest.raises(ValidationFailed):
        services.request_payout(
            actor=user, balance=balance, amount_minor=10, idempotency_key="m", wallet=wallet
        )
    BountyWallet.objects.filter(pk=wallet.pk).update(status="unverified")
    wallet.refresh_from_db()
    with pytest.raises(InvalidState):
        services.request_payout(actor=user, balance=balance, amount_minor=10_000_000, idempotency_key="u",
                                wallet=wallet)  # fmt: skip
    assert not PayoutRequest.objects.exists()
