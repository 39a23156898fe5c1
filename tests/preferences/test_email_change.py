"""Email change: password → link to the new address → confirm swaps the address; cancel; expiry."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.sessions.models import Session
from django.core import mail
from django.utils import timezone

from apps.accounts.models import User, UserSession
from apps.preferences import services
from apps.preferences.models import PendingEmailChange
from apps.preferences.services.email_change import hash_token
from tests.accounts.factories import PASSWORD, UserFactory
from tests.preferences.helpers import email_change_token, logged_in_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/account/email-change/"
CONFIRM = "/api/v1/account/email-change/confirm/"


@pytest.fixture
def request_change(django_capture_on_commit_callbacks):
    """POST a change request and run its on-commit effects (the mail)."""

    def run(client, new_email="new.address@example.org", password=PASSWORD):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, {"new_email": new_email, "password": password}, format="json")

    return run


def test_full_flow_swaps_address_notifies_old_and_revokes_other_sessions(
    network, django_capture_on_commit_callbacks, request_change
):
    user = UserFactory(network=network, email="old@example.com")
    client, key = logged_in_client(user)
    _other_client, other_key = logged_in_client(user, user_agent="other device")

    response = request_change(client, "New.Address@Example.org")
    assert response.status_code == 201, response.json()
    assert response.json()["new_email"] == "new.address@example.org"
    assert [m.to for m in mail.outbox] == [["new.address@example.org"]]
    token = email_change_token()
    assert "http" in mail.outbox[0].body and token in mail.outbox[0].body
    change = PendingEmailChange.objects.get(user=user)
    assert change.token_hash == hash_token(token) and token not in change.token_hash
    assert User.objects.get(pk=user.pk).email == "old@example.com"  # nothing changes before the link

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(CONFIRM, {"token": token}, format="json")
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json() == {"email": "new.address@example.org"}
    user.refresh_from_db()
    assert user.email == "new.address@example.org"
    addresses = list(EmailAddress.objects.filter(user=user).values_list("email", "primary", "verified"))
    assert addresses == [("new.address@example.org", True, True)]
    notice = mail.outbox[-1]
    assert notice.to == ["old@example.com"]
    assert "n…@example.org" in notice.body
    assert UserSession.objects.get(session_key=other_key).revoked_at is not None
    assert not Session.objects.filter(session_key=other_key).exists()
    assert UserSession.objects.get(session_key=key).revoked_at is None
    assert client.get("/api/v1/account/settings/").status_code == 200
    assert PendingEmailChange.objects.get(pk=change.pk).confirmed_at is not None


def test_confirmed_token_cannot_be_reused(user_client, user, request_change):
    request_change(user_client)
    token = email_change_token()
    assert user_client.post(CONFIRM, {"token": token}, format="json").status_code == 200
    again = user_client.post(CONFIRM, {"token": token}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"


def test_wrong_password_is_400_and_sends_nothing(user_client, user, request_change):
    response = request_change(user_client, password="not the password")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    assert "password" in response.json()
    assert not PendingEmailChange.objects.exists()
    assert mail.outbox == []


def test_repeated_wrong_passwords_are_rate_limited(user_client, request_change):
    codes = [request_change(user_client, password=f"wrong-{i}").status_code for i in range(6)]
    assert codes[:5] == [400] * 5
    assert codes[5] == 429
    assert request_change(user_client).status_code == 429  # even the right one, until the window ends


@pytest.mark.parametrize("holder", ["user_email", "secondary_address"])
def test_address_of_another_account_is_refused_at_request(user_client, user, network, holder, request_change):
    if holder == "user_email":
        UserFactory(network=network, email="taken@example.com")
    else:
        other = UserFactory(network=network)
        EmailAddress.objects.create(user=other, email="Taken@Example.com", verified=False, primary=False)
    response = request_change(user_client, "taken@example.com")
    assert response.status_code == 400
    assert response.json()["code"] == "email_unavailable"
    assert "taken" not in response.json()["new_email"][0]
    assert not PendingEmailChange.objects.exists()


def test_address_of_an_account_in_another_network_is_refused(user_client, other_user, request_change):
    response = request_change(user_client, other_user.email)
    assert response.status_code == 400
    assert response.json()["code"] == "email_unavailable"


def test_address_taken_between_request_and_confirm_is_refused_at_confirm(
    user_client, user, network, request_change
):
    request_change(user_client, "race@example.com")
    token = email_change_token()
    UserFactory(network=network, email="race@example.com")
    response = user_client.post(CONFIRM, {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "email_unavailable"
    user.refresh_from_db()
    assert user.email != "race@example.com"


def test_expired_token_is_400(user_client, user, request_change):
    request_change(user_client)
    token = email_change_token()
    PendingEmailChange.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = user_client.post(CONFIRM, {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "token_expired"
    assert User.objects.get(pk=user.pk).email == user.email


def test_link_is_valid_for_the_configured_hours(user_client, settings, request_change):
    before = timezone.now()
    request_change(user_client)
    change = PendingEmailChange.objects.get()
    expected = before + timedelta(hours=settings.EMAIL_CHANGE_TTL_HOURS)
    assert abs((change.expires_at - expected).total_seconds()) < 5


@pytest.mark.parametrize("token", ["", "x" * 500, "not-a-real-token"])
def test_unknown_or_malformed_tokens_are_400(user_client, token):
    assert user_client.post(CONFIRM, {"token": token}, format="json").status_code == 400


def test_token_of_another_user_is_400(user_client, network, request_change):
    victim = UserFactory(network=network)
    victim_client, _ = logged_in_client(victim)
    request_change(victim_client)
    token = email_change_token()
    response = user_client.post(CONFIRM, {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


def test_new_request_replaces_the_open_one(user_client, user, request_change):
    request_change(user_client, "first@example.org")
    first = email_change_token()
    request_change(user_client, "second@example.org")
    assert PendingEmailChange.objects.filter(user=user, cancelled_at__isnull=True).count() == 1
    assert user_client.post(CONFIRM, {"token": first}, format="json").status_code == 400
    assert user_client.post(CONFIRM, {"token": email_change_token()}, format="json").status_code == 200


def test_get_shows_and_delete_cancels_the_pending_change(user_client, user, request_change):
    assert user_client.get(URL).status_code == 404
    request_change(user_client)
    token = email_change_token()
    assert user_client.get(URL).json()["new_email"] == "new.address@example.org"
    assert user_client.delete(URL).status_code == 204
    assert user_client.get(URL).status_code == 404
    assert user_client.delete(URL).status_code == 404
    response = user_client.post(CONFIRM, {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    "body",
    [
        {"new_email": "not-an-email", "password": PASSWORD},
        {"new_email": "a@example.org"},
        {"password": PASSWORD},
        {"new_email": "a@example.org", "password": PASSWORD, "admin": True},
    ],
)
def test_bad_request_bodies_are_400(user_client, body):
    assert user_client.post(URL, body, format="json").status_code == 400
    assert not PendingEmailChange.objects.exists()


def test_same_address_is_400(user_client, user, request_change):
    response = request_change(user_client, user.email.upper())
    assert response.status_code == 400
    assert response.json()["code"] == "email_unchanged"


def test_expire_job_drops_expired_open_changes(user_client, user, request_change):
    request_change(user_client)
    assert services.expire_email_changes() == 0
    PendingEmailChange.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.expire_email_changes() == 1
    assert not PendingEmailChange.objects.exists()


class TestConfirmPage:
    def _page(self, token):
        return f"/accounts/email-change/confirm/{token}/"

    def test_get_shows_a_button_and_changes_nothing(self, user_client, user, request_change):
        request_change(user_client)
        token = email_change_token()
        response = user_client.get(self._page(token))
        assert response.status_code == 200
        assert b'<form method="post">' in response.content
        assert b"new.address@example.org" in response.content
        assert User.objects.get(pk=user.pk).email == user.email

    def test_post_confirms(self, user, django_capture_on_commit_callbacks, request_change):
        from django.test import Client

        client = Client()
        client.force_login(user)
        request_change(client)
        token = email_change_token()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(self._page(token))
        assert response.status_code == 200
        assert b"is now" in response.content
        assert User.objects.get(pk=user.pk).email == "new.address@example.org"
        assert mail.outbox[-1].to == [user.email]

    def test_other_network_user_gets_404_and_nothing_changes(
        self, user_client, user, other_user, request_change
    ):
        from django.test import Client

        request_change(user_client)
        token = email_change_token()
        stranger = Client()
        stranger.force_login(other_user)
        assert stranger.get(self._page(token)).status_code == 404
        assert stranger.post(self._page(token)).status_code == 404
        assert User.objects.get(pk=user.pk).email == user.email

    def test_anonymous_visitor_is_sent_to_sign_in(self, user_client, request_change):
        from django.test import Client

        request_change(user_client)
        response = Client().get(self._page(email_change_token()))
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]

    def test_unknown_token_or_another_users_link_is_404(self, user_client, network, request_change):
        assert user_client.get(self._page("nope")).status_code == 404
        other = UserFactory(network=network)
        other_client, _ = logged_in_client(other)
        request_change(other_client)
        assert user_client.get(self._page(email_change_token())).status_code == 404

    def test_expired_link_page_is_400_with_a_message(self, user_client, request_change):
        request_change(user_client)
        token = email_change_token()
        PendingEmailChange.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        response = user_client.post(self._page(token))
        assert response.status_code == 400
        assert b"expired" in response.content


def test_confirm_page_needs_a_session_that_passed_two_factor(user_client, user, request_change):
    from tests.preferences.helpers import confirmed_totp

    request_change(user_client)
    token = email_change_token()
    confirmed_totp(user)
    from apps.accounts.selectors import forget_security_state

    forget_security_state(user.pk)
    response = user_client.post(f"/accounts/email-change/confirm/{token}/")
    assert response.status_code == 302
    # the browser 2FA gate sends the session to the second factor first
    assert response["Location"].startswith(("/accounts/2fa/verify/", "/accounts/login/"))
    assert User.objects.get(pk=user.pk).email == user.email
