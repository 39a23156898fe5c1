"""Signup places the user in the request's network; invite-only and closed networks refuse clearly."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.test import Client

from apps.accounts import invites
from apps.accounts.models import User
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase"
HEADLESS_SIGNUP = {
    "browser": "/_allauth/browser/v1/auth/signup",
    "app": "/_allauth/app/v1/auth/signup",
}


def _browser_signup(client: Client, email: str, **extra):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD, **extra}
    )


def _headless_signup(client: Client, kind: str, body: dict, **headers):
    return client.post(HEADLESS_SIGNUP[kind], json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def invite_only(network):
    network.invite_only = True
    network.save(update_fields=["invite_only"])
    return network


@pytest.fixture
def accepting_checker():
    """A stand-in for the invites app: code GOOD-CODE is valid; redemptions are recorded."""
    redeemed: list[tuple[str, str]] = []

    def checker(*, network, code, email):
        return code == "GOOD-CODE"

    def redeemer(*, network, code, user):
        redeemed.append((code, user.email))

    previous_checker, previous_redeemer = invites.registered()
    invites.register(checker=checker, redeemer=redeemer)
    yield redeemed
    if previous_checker is None or previous_redeemer is None:
        invites.unregister()
    else:  # the invites app's real hooks
        invites.register(checker=previous_checker, redeemer=previous_redeemer)


def test_browser_signup_joins_the_network_of_the_host(network, other_network):
    client = Client(HTTP_HOST="beta.example.com")
    response = _browser_signup(client, "host@example.com")
    assert response.status_code == 302
    assert User.objects.get(email="host@example.com").network_id == other_network.pk


def test_headless_signup_joins_the_default_network_for_unknown_hosts(network, other_network):
    response = _headless_signup(Client(), "app", {"email": "dflt@example.com", "password": PASSWORD})
    assert response.status_code == 401  # pending email verification
    assert User.objects.get(email="dflt@example.com").network_id == network.pk


def test_invite_only_browser_signup_without_code_is_refused_with_a_clear_message(invite_only):
    response = _browser_signup(Client(), "nocode@example.com")
    assert response.status_code == 200
    assert invites.INVITE_REQUIRED.encode() in response.content.replace(b"&#x27;", b"'")
    assert b"invite-only" in response.content
    assert not User.objects.filter(email="nocode@example.com").exists()
    assert mail.outbox == []


def test_invite_only_browser_signup_with_unknown_code_is_refused(invite_only, accepting_checker):
    response = _browser_signup(Client(), "bad@example.com", invite_code="NOPE-NOPE")
    assert response.status_code == 200
    assert b"This invite code is not valid" in response.content
    assert not User.objects.filter(email="bad@example.com").exists()
    assert accepting_checker == []


def test_invite_only_browser_signup_with_valid_code_creates_and_redeems(invite_only, accepting_checker):
    response = _browser_signup(Client(), "good@example.com", invite_code=" good-code ")
    assert response.status_code == 302
    assert User.objects.get(email="good@example.com").network_id == invite_only.pk
    assert accepting_checker == [("GOOD-CODE", "good@example.com")]


@pytest.mark.parametrize("kind", ["browser", "app"])
def test_invite_only_headless_signup_without_code_is_400_invite_required(invite_only, kind):
    response = _headless_signup(Client(), kind, {"email": "hl@example.com", "password": PASSWORD})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == [{"message": invites.INVITE_REQUIRED, "code": "invite_required", "param": "invite_code"}]
    assert not User.objects.filter(email="hl@example.com").exists()


@pytest.mark.parametrize("kind", ["browser", "app"])
def test_invite_only_headless_signup_with_bad_then_good_code(invite_only, accepting_checker, kind):
    bad = _headless_signup(
        Client(), kind, {"email": "hl2@example.com", "password": PASSWORD, "invite_code": "XXXX-YYYY"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["code"] == "invite_invalid"
    good = _headless_signup(
        Client(), kind, {"email": "hl2@example.com", "password": PASSWORD, "invite_code": "good-code"}
    )
    assert good.status_code == 401  # created, pending email verification
    assert User.objects.get(email="hl2@example.com").network_id == invite_only.pk
    assert accepting_checker == [("GOOD-CODE", "hl2@example.com")]


def test_closed_network_refuses_signup(network):
    network.signup_enabled = False
    network.save(update_fields=["signup_enabled"])
    assert (
        _headless_signup(Client(), "app", {"email": "x@example.com", "password": PASSWORD}).status_code == 403
    )
    page = Client().get("/accounts/signup/")
    assert b"Signups are closed" in page.content
    assert not User.objects.filter(email="x@example.com").exists()


def test_weak_password_is_400_with_field_message_and_creates_nothing(network):
    response = _headless_signup(Client(), "app", {"email": "weak@example.com", "password": "password"})
    assert response.status_code == 400
    assert {e["param"] for e in response.json()["errors"]} == {"password"}
    browser = _browser_signup(Client(), "weak@example.com", password1="12345678", password2="12345678")
    assert browser.status_code == 200 and b"errorlist" in browser.content
    assert not User.objects.filter(email="weak@example.com").exists()


def test_signup_with_a_taken_email_looks_like_success(network):
    """Enumeration prevention: same answer, and the owner gets an 'account exists' mail."""
    existing = UserFactory(network=network, email="taken@example.com")
    fresh = _headless_signup(Client(), "app", {"email": "fresh@example.com", "password": PASSWORD})
    taken = _headless_signup(Client(), "app", {"email": "TAKEN@example.com", "password": PASSWORD})
    assert fresh.status_code == taken.status_code == 401
    assert [f["id"] for f in taken.json()["data"]["flows"] if f.get("is_pending")] == ["verify_email"]
    assert User.objects.filter(email="taken@example.com").count() == 1
    assert mail.outbox[-1].to == [existing.email]


def test_malformed_json_is_400(network):
    response = Client().post(HEADLESS_SIGNUP["app"], "{not json", content_type="application/json")
    assert response.status_code == 400
    response = Client().post("/_allauth/app/v1/auth/login", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
