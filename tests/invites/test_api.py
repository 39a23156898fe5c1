"""Members' codes (list, send, revoke), admins' bulk codes and waitlist entries (list, invite selected)."""

from __future__ import annotations

import pytest
from django.core import mail
from rest_framework.test import APIClient

from apps.invites.models import InviteCode, InviteWaitlist
from tests.accounts.factories import UserFactory

from .factories import InviteCodeFactory, WaitlistFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(network):
    return UserFactory(network=network, network_role="admin")


@pytest.fixture
def admin_client(admin):
    client = APIClient()
    client.force_login(admin)
    return client


def test_members_list_their_own_codes_admins_all(user_client, admin_client, user, network):
    mine = InviteCodeFactory(network=network, owner=user, kind="member")
    InviteCodeFactory(network=network)
    assert [c["id"] for c in user_client.get("/api/v1/invite-codes/?all=true").json()["results"]] == [
        str(mine.pk)
    ]
    assert len(admin_client.get("/api/v1/invite-codes/?all=true").json()["results"]) == 2
    assert (
        user_client.get(
            f"/api/v1/invite-codes/{InviteCode.objects.exclude(pk=mine.pk).get().pk}/"
        ).status_code
        == 404
    )


def test_send_mails_the_code_and_binds_a_single_use_code(
    user_client, user, network, django_capture_on_commit_callbacks
):
    code = InviteCodeFactory(network=network, owner=user, kind="member")
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            f"/api/v1/invite-codes/{code.pk}/send/", {"email": "Friend@Example.com"}, format="json"
        )
    assert response.status_code == 200 and response.json()["bound_email"] == "friend@example.com"
    assert mail.outbox[0].to == ["friend@example.com"] and code.code in mail.outbox[0].body
    again = user_client.post(
        f"/api/v1/invite-codes/{code.pk}/send/", {"email": "other@example.com"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "invite_bound"
    assert (
        user_client.post(f"/api/v1/invite-codes/{code.pk}/send/", {"email": "bad"}, format="json").status_code
        == 400
    )


def test_revoke_is_idempotent_and_the_code_stops_working(user_client, user, network):
    code = InviteCodeFactory(network=network, owner=user, kind="member")
    for _ in range(2):
        assert user_client.post(f"/api/v1/invite-codes/{code.pk}/revoke/").json()["revoked_at"]
    valid = (
        APIClient().post("/api/v1/invite-codes/check/", {"code": code.code}, format="json").json()["valid"]
    )
    assert valid is False


def test_bulk_generation_is_for_admins(admin_client, user_client):
    assert user_client.post("/api/v1/invite-codes/bulk/", {"count": 2}, format="json").status_code == 403
    response = admin_client.post(
        "/api/v1/invite-codes/bulk/", {"count": 25, "max_uses": 3, "note": "launch"}, format="json"
    )
    assert response.status_code == 201 and response.json()["count"] == 25
    codes = {c["code"] for c in response.json()["codes"]}
    assert len(codes) == 25 and InviteCode.objects.filter(note="launch", max_uses=3).count() == 25
    assert admin_client.post("/api/v1/invite-codes/bulk/", {"count": 5000}, format="json").status_code == 400
    past = admin_client.post(
        "/api/v1/invite-codes/bulk/", {"count": 1, "expires_at": "2001-01-01T00:00:00Z"}, format="json"
    )
    assert past.status_code == 400 and past.json()["code"] == "in_the_past"


def test_invite_selected_invites_confirmed_waiting_entries_only(
    admin_client, network, django_capture_on_commit_callbacks
):
    ready = WaitlistFactory(network=network)
    unconfirmed = WaitlistFactory(network=network, email_verified_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/api/v1/waitlist-entries/invite/",
            {"entries": [str(ready.pk), str(unconfirmed.pk)]},
            format="json",
        )
    assert response.status_code == 200 and response.json() == {"invited": 1}
    assert InviteWaitlist.objects.get(pk=ready.pk).status == "invited"
    assert InviteWaitlist.objects.get(pk=unconfirmed.pk).status == "waiting"
    assert [m.to for m in mail.outbox] == [[ready.email]]


def test_waitlist_entries_list_in_position_order_with_constant_queries(
    admin_client, network, django_assert_max_num_queries
):
    for size in (3, 15):
        WaitlistFactory.create_batch(size, network=network)
        with django_assert_max_num_queries(7):
            response = admin_client.get("/api/v1/waitlist-entries/?verified=true&status=waiting")
        positions = [row["position"] for row in response.json()["results"]]
        assert positions == sorted(positions) and len(positions) >= size


def test_codes_list_runs_a_constant_number_of_queries(
    user_client, user, network, django_assert_max_num_queries
):
    for size in (3, 15):
        InviteCodeFactory.create_batch(size, network=network, owner=user, kind="member")
        with django_assert_max_num_queries(7):
            assert len(user_client.get("/api/v1/invite-codes/").json()["results"]) >= size


def test_remove_takes_an_entry_off_the_list(admin_client, network):
    entry = WaitlistFactory(network=network)
    assert admin_client.post(f"/api/v1/waitlist-entries/{entry.pk}/remove/").json()["status"] == "removed"
    assert admin_client.post(f"/api/v1/waitlist-entries/{entry.pk}/remove/").status_code == 409
