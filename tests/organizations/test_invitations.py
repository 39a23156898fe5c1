"""Invitations by email: the mail, the hashed token, accepting, and every way accepting is refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.organizations import services, tasks
from apps.organizations.models import OrganizationMember
from tests.accounts.factories import UserFactory

from .conftest import client_for
from .factories import OrganizationFactory
from .helpers import ACCEPT_URL, actions, invitation_token, members_url

pytestmark = pytest.mark.django_db


def _invite(client, org, email="guest@example.com", role="member"):
    return client.post(members_url(org), {"email": email, "role": role}, format="json")


def test_invite_by_email_mails_a_link_after_commit_and_stores_only_the_hash(
    org, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _invite(client_for(user), org, email="Guest@Example.com", role="viewer")
        assert response.status_code == 201, response.content
        assert mail.outbox == []  # nothing leaves before commit
    for callback in callbacks:
        callback()
    body = response.json()
    assert (
        body["status"] == "invited" and body["invite_email"] == "guest@example.com" and body["user"] is None
    )
    assert "token" not in str(body)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["guest@example.com"] and org.name in message.subject
    token = invitation_token(message)
    row = OrganizationMember.objects.get(pk=body["id"])
    assert row.invite_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(OrganizationMember.objects.filter(pk=row.pk).values().get())
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    assert timedelta(days=6, hours=23) < row.invite_expires_at - timezone.now() <= timedelta(days=7)
    event = AuditEvent.objects.filter(organization=org, action="org.member.invited").get()
    assert token not in str(event.data)


def test_accepting_joins_with_the_invited_role(org, user, network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client_for(user), org, email="guest@example.com", role="admin")
    guest = UserFactory(network=network, email="guest@example.com")
    response = client_for(guest).post(ACCEPT_URL, {"token": invitation_token()}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["organization"]["id"] == str(org.pk) and body["organization"]["viewer_role"] == "admin"
    row = OrganizationMember.objects.get(organization=org, user=guest)
    assert (row.status, row.role, row.invite_token_hash, row.invite_expires_at) == (
        "active",
        "admin",
        None,
        None,
    )
    assert row.joined_at is not None
    assert actions(org)[-1] == "org.invitation.accepted"
    # the token is spent
    response = client_for(guest).post(ACCEPT_URL, {"token": invitation_token()}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_token"


def test_wrong_email_cannot_accept(org, user, network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client_for(user), org, email="guest@example.com")
    intruder = UserFactory(network=network, email="intruder@example.com")
    response = client_for(intruder).post(ACCEPT_URL, {"token": invitation_token()}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "invitation_email_mismatch"
    assert (
        OrganizationMember.objects.get(organization=org, invite_email="guest@example.com").status == "invited"
    )


def test_unverified_address_cannot_accept(org, user, network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client_for(user), org, email="guest@example.com")
    guest = UserFactory(network=network, email="guest@example.com", verified=False)
    response = client_for(guest).post(ACCEPT_URL, {"token": invitation_token()}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "email_not_verified"


def test_expired_invitation_cannot_be_accepted(org, user, network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client_for(user), org, email="guest@example.com")
    OrganizationMember.objects.filter(organization=org, status="invited").update(
        invite_expires_at=timezone.now() - timedelta(seconds=1)
    )
    guest = UserFactory(network=network, email="guest@example.com")
    response = client_for(guest).post(ACCEPT_URL, {"token": invitation_token()}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invitation_expired"
    assert "token" in response.json()


def test_domain_rules_apply_at_invite_and_at_accept(org, user, network, django_capture_on_commit_callbacks):
    org.security_policy.allowed_email_domains = ["acme.example"]
    org.security_policy.save()
    client = client_for(user)
    response = _invite(client, org, email="someone@elsewhere.example")
    assert response.status_code == 400 and response.json()["code"] == "email_domain_not_allowed"
    assert "email" in response.json()
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(client, org, email="ann@acme.example").status_code == 201
    # the owner narrows the policy after the invitation was sent
    org.security_policy.allowed_email_domains = ["other.example"]
    org.security_policy.save()
    ann = UserFactory(network=network, email="ann@acme.example")
    response = client_for(ann).post(ACCEPT_URL, {"token": invitation_token()}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "email_domain_not_allowed"


def test_token_of_another_network_reads_like_an_invalid_one(
    other_network, django_capture_on_commit_callbacks, network
):
    owner = UserFactory(network=other_network)
    foreign = OrganizationFactory(network=other_network, owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_member(actor=owner, organization=foreign, email="guest@example.com")
    guest = UserFactory(network=network, email="guest@example.com")
    response = client_for(guest).post(ACCEPT_URL, {"token": invitation_token()}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    "body", [{}, {"token": ""}, {"token": "x" * 500}, {"token": "garbage"}, {"token": None}]
)
def test_bad_tokens_are_400(user_client, body):
    response = user_client.post(ACCEPT_URL, body, format="json")
    assert response.status_code == 400


def test_pending_invitation_is_409_and_existing_member_is_409(org, user, member_of):
    client = client_for(user)
    assert _invite(client, org, email="guest@example.com").status_code == 201
    response = _invite(client, org, email="guest@example.com")
    assert response.status_code == 409 and response.json()["code"] == "already_invited"
    existing = member_of("member", email="here@example.com")
    assert existing.email == "here@example.com"
    response = _invite(client, org, email="here@example.com")
    assert response.status_code == 409 and response.json()["code"] == "already_member"


def test_an_expired_invitation_is_replaced_by_a_new_one(org, user):
    client = client_for(user)
    _invite(client, org, email="guest@example.com")
    OrganizationMember.objects.filter(status="invited").update(
        invite_expires_at=timezone.now() - timedelta(days=1)
    )
    assert _invite(client, org, email="guest@example.com").status_code == 201
    assert OrganizationMember.objects.filter(status="invited").count() == 1


def test_only_owners_invite_owners(org, user, member_of):
    admin = member_of("admin")
    response = _invite(client_for(admin), org, role="owner")
    assert response.status_code == 403 and response.json()["code"] == "only_owners_grant_owner"
    assert _invite(client_for(user), org, role="owner").status_code == 201


def test_expiry_job_deletes_expired_invitations_once_and_audits_them(org, user):
    keep = services.invite_member(actor=user, organization=org, email="keep@example.com").member
    gone = services.invite_member(actor=user, organization=org, email="gone@example.com").member
    OrganizationMember.objects.filter(pk=gone.pk).update(
        invite_expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert tasks.expire_invitations.delay().get() == 1
    assert tasks.expire_invitations.delay().get() == 0  # idempotent
    assert set(OrganizationMember.objects.filter(status="invited").values_list("pk", flat=True)) == {keep.pk}
    assert actions(org).count("org.invitation.expired") == 1


def test_expiry_job_is_in_the_beat_schedule(settings):
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "organizations.expire_invitations" in names
    from config.celery import app

    app.loader.import_default_modules()
    assert "organizations.expire_invitations" in app.tasks
