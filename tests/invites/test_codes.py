"""Invite codes at signup: one conditional UPDATE in the signup transaction, grants, the same 400 for every bad code."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.invites import codes, services
from apps.invites.models import InviteCode, InviteRedemption, InviteWaitlist
from apps.organizations.models import OrganizationMember
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory

from .factories import InviteCodeFactory, WaitlistFactory

pytestmark = pytest.mark.django_db
SIGNUP = "/_allauth/app/v1/auth/signup"
PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture
def invite_only(network):
    network.invite_only = True
    network.save(update_fields=["invite_only"])
    return network


def _signup(email: str, code: str | None, **headers):
    body = {"email": email, "password": PASSWORD}
    if code is not None:
        body["invite_code"] = code
    return Client().post(SIGNUP, json.dumps(body), content_type="application/json", **headers)


def test_codes_are_crockford_base32_and_read_forgivingly():
    code = codes.new_code()
    assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= set(codes.ALPHABET)
    assert codes.normalise("abcd efgh") == "ABCD-EFGH"
    assert codes.normalise("o1il-0000") == "0111-0000"
    assert codes.normalise("ABCD-EFGU") is None  # U is not Crockford
    assert codes.normalise("short") is None and codes.normalise(None) is None


def test_signup_with_a_code_creates_user_redemption_grants_and_joined_together(invite_only, user):
    org = OrganizationFactory(network=invite_only, owner=user)
    entry = WaitlistFactory(network=invite_only, email="new@example.com", status="invited")
    invite = InviteCodeFactory(
        network=invite_only,
        bound_email="new@example.com",
        waitlist_entry=entry,
        created_by=user,
        grants={"organization": str(org.pk), "role": "member"},
    )
    response = _signup("new@example.com", invite.code.lower().replace("-", " "))
    assert response.status_code == 401, response.content  # created, email verification pending
    new = User.objects.get(email="new@example.com")
    assert new.network_id == invite_only.pk
    invite.refresh_from_db()
    assert invite.use_count == 1
    assert InviteRedemption.objects.get(user=new).code_id == invite.pk
    assert OrganizationMember.objects.get(organization=org, user=new).role == "member"
    entry.refresh_from_db()
    assert (entry.status, entry.user_id) == ("joined", new.pk)


@pytest.mark.parametrize("state", ["unknown", "used", "expired", "revoked", "bound_elsewhere"])
def test_every_unusable_code_gets_the_same_400(invite_only, state):
    invite = InviteCodeFactory(network=invite_only)
    if state == "used":
        InviteCode.objects.filter(pk=invite.pk).update(use_count=1)
    elif state == "expired":
        InviteCode.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        InviteCode.objects.filter(pk=invite.pk).update(revoked_at=timezone.now())
    elif state == "bound_elsewhere":
        InviteCode.objects.filter(pk=invite.pk).update(bound_email="someone@example.com")
    code = "ZZZZ-ZZZZ" if state == "unknown" else invite.code
    response = _signup("try@example.com", code)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["param"]) == ("invite_invalid", "invite_code")
    assert not User.objects.filter(email="try@example.com").exists()


def test_a_code_of_another_network_is_invalid(invite_only, other_network):
    invite = InviteCodeFactory(network=other_network)
    assert _signup("cross@example.com", invite.code).json()["errors"][0]["code"] == "invite_invalid"


def test_one_use_left_and_two_concurrent_signups_admit_exactly_one(transactional_db, invite_only):
    invite = InviteCodeFactory(network=invite_only, max_uses=1)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def signup(i: int) -> None:
        try:
            user = UserFactory.build(network=invite_only, email=f"race{i}@example.com", handle=f"race_{i}")
            with transaction.atomic():
                user.save()
                barrier.wait(timeout=10)
                services.redeem_code(network=invite_only, code=invite.code, user=user)
            results.append("admitted")
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=signup, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["InviteInvalid", "admitted"]
    invite.refresh_from_db()
    assert invite.use_count == 1 and InviteRedemption.objects.count() == 1
    assert User.objects.filter(email__startswith="race").count() == 1  # the loser's user rolled back


def test_a_rollback_frees_the_use(invite_only):
    invite = InviteCodeFactory(network=invite_only)
    user = UserFactory(network=invite_only)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.redeem_code(network=invite_only, code=invite.code, user=user)
        raise RuntimeError("the signup failed later")
    invite.refresh_from_db()
    assert invite.use_count == 0 and not InviteRedemption.objects.exists()


def test_a_code_used_up_between_check_and_save_is_the_field_error(invite_only, monkeypatch):
    invite = InviteCodeFactory(network=invite_only)
    # another signup takes the last use after this one's form was validated
    from apps.accounts.forms import SignupInput

    original = SignupInput.try_save

    def racing_try_save(self, request):
        InviteCode.objects.filter(pk=invite.pk).update(use_count=1)
        return original(self, request)

    monkeypatch.setattr(SignupInput, "try_save", racing_try_save)
    response = _signup("late@example.com", invite.code)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invite_invalid"
    assert not User.objects.filter(email="late@example.com").exists()


def test_the_anonymous_check_says_valid_or_not_and_is_rate_limited(invite_only, settings):
    settings.INVITE_CHECK_RATE = "3/m"
    invite = InviteCodeFactory(network=invite_only, bound_email="x@example.com")
    client = APIClient()
    answers = [
        client.post("/api/v1/invite-codes/check/", {"code": c}, format="json")
        for c in (invite.code, "NOPE-NOPE", "x")
    ]
    assert [a.json()["valid"] for a in answers] == [True, False, False]
    assert client.post("/api/v1/invite-codes/check/", {"code": invite.code}, format="json").status_code == 429


def test_grants_are_checked_when_the_code_is_made(network, user, other_network):
    org = OrganizationFactory(network=network)  # the user is not a member
    with pytest.raises(Exception) as refused:
        services.issue_code(
            actor=user, network=network, grants={"organization": str(org.pk), "role": "admin"}
        )
    assert getattr(refused.value, "field", None) == "grants"
    foreign = OrganizationFactory(network=other_network, owner=UserFactory(network=other_network))
    with pytest.raises(Exception) as missing:
        services.issue_code(actor=user, network=network, grants={"organization": str(foreign.pk)})
    assert getattr(missing.value, "code", None) == "does_not_exist"
    own = OrganizationFactory(network=network, owner=user)
    made = services.issue_code(
        actor=user, network=network, grants={"organization": str(own.pk), "role": "admin"}
    )
    assert made.grants == {"organization": str(own.pk), "role": "admin"}


def test_a_signup_with_an_unused_code_lets_the_waitlist_entry_join(invite_only):
    entry = WaitlistFactory(network=invite_only, email="w@example.com")
    invite = InviteCodeFactory(network=invite_only)
    assert _signup("w@example.com", invite.code).status_code == 401
    assert InviteWaitlist.objects.get(pk=entry.pk).status == "joined"


def test_community_grants_join_through_the_social_services(invite_only, user):
    from apps.social.models import CommunityMember
    from tests.social.factories import CommunityFactory, CommunityMemberFactory

    public = CommunityFactory(network=invite_only, visibility="public")
    private = CommunityFactory(network=invite_only, visibility="private", owner_user=user)
    CommunityMemberFactory(community=private, user=user, role="owner")
    invite = services.issue_code(
        actor=user, network=invite_only, grants={"communities": [str(public.pk), str(private.pk)]}
    )
    assert _signup("joiner@example.com", invite.code).status_code == 401
    joiner = User.objects.get(email="joiner@example.com")
    statuses = dict(CommunityMember.objects.filter(user=joiner).values_list("community_id", "status"))
    assert statuses == {public.pk: "active", private.pk: "active"}  # the maker moderates the private one
