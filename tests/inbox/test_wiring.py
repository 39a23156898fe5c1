"""The flows that report through the inbox today: organization invitations and security events."""

from __future__ import annotations

import pytest
from django.core import mail

from apps.inbox.models import InboxItem
from apps.notifications.models import Notification
from apps.organizations import services as org_services
from apps.organizations.models import OrganizationMember
from tests.accounts.factories import PASSWORD, UserFactory
from tests.organizations.factories import OrganizationFactory
from tests.organizations.helpers import invitation_token
from tests.preferences.helpers import current_code, email_change_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- organization invitations ----------------------------------------------------------


@pytest.fixture
def org_and_owner(network):
    owner = UserFactory(network=network, display_name="Olga Owner")
    return OrganizationFactory(network=network, name="Acme", owner=owner), owner


def test_inviting_someone_with_an_account_puts_an_action_item_in_their_inbox(
    org_and_owner, network, committed
):
    org, owner = org_and_owner
    guest = UserFactory(network=network, email="guest@example.com")
    with committed():
        issued = org_services.invite_member(
            actor=owner, organization=org, email="guest@example.com", role="admin"
        )
    item = InboxItem.objects.get(recipient=guest)
    assert (item.kind, item.target_type, item.target_id) == (
        "org_invite",
        "organizationmember",
        issued.member.pk,
    )
    assert item.requires_action and item.action_state == "pending"
    assert item.actor_id == owner.pk and item.title == "Olga Owner invited you to join Acme"
    assert item.data == {"organization_id": str(org.pk), "role": "admin"}
    # the invitation mail (with its link) is the only email
    assert [m.to for m in mail.outbox] == [["guest@example.com"]]
    assert not Notification.objects.filter(recipient=guest, channel="email").exists()
    assert Notification.objects.filter(recipient=guest, channel="in_app").exists()

    with committed():
        org_services.accept_invitation(user=guest, token=invitation_token())
    item.refresh_from_db()
    assert item.action_state == "done"


def test_inviting_an_address_without_an_account_mails_only(org_and_owner, committed):
    org, owner = org_and_owner
    with committed():
        org_services.invite_member(actor=owner, organization=org, email="nobody@example.com")
    assert not InboxItem.objects.exists()
    assert len(mail.outbox) == 1


def test_a_revoked_invitation_is_dismissed(org_and_owner, network, committed):
    org, owner = org_and_owner
    guest = UserFactory(network=network, email="guest@example.com")
    with committed():
        issued = org_services.invite_member(actor=owner, organization=org, email=guest.email)
    with committed():
        org_services.remove_member(actor=owner, member=issued.member)
    assert InboxItem.objects.get(recipient=guest).action_state == "dismissed"


def test_an_expired_invitation_is_dismissed(org_and_owner, network, committed):
    from datetime import timedelta

    from django.utils import timezone

    org, owner = org_and_owner
    guest = UserFactory(network=network, email="guest@example.com")
    with committed():
        org_services.invite_member(actor=owner, organization=org, email=guest.email)
    OrganizationMember.objects.filter(status="invited").update(
        invite_expires_at=timezone.now() - timedelta(minutes=1)
    )
    with committed():
        assert org_services.expire_invitations() == 1
    assert InboxItem.objects.get(recipient=guest).action_state == "dismissed"


# --- security events --------------------------------------------------------------------


def _security(user):
    return list(InboxItem.objects.filter(recipient=user, kind="security").order_by("created_at"))


def test_a_sign_in_from_a_new_device_is_a_security_item_and_an_email(user, committed):
    from apps.preferences.loginhistory import record_login_event

    with committed():
        record_login_event(event="login", user=user, is_new_device=False)
    assert _security(user) == []
    with committed():
        row = record_login_event(event="login", user=user, is_new_device=True)
    [item] = _security(user)
    assert (item.target_type, item.target_id, item.data["event"]) == ("loginhistory", row.pk, "new_login")
    assert item.target_url == "/settings/security/"
    email = Notification.objects.get(recipient=user, channel="email")
    assert email.status == "sent" and not email.is_digest
    assert mail.outbox[-1].to == [user.email] and "New sign-in" in mail.outbox[-1].subject


def test_two_factor_changes_are_security_items(user, committed):
    from apps.accounts import twofactor

    twofactor.begin_totp_enrolment(user=user)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user)
    with committed():
        twofactor.confirm_totp(user=user, code=current_code(device))
    with committed():
        twofactor.reset_two_factor(actor=UserFactory(network=user.network, is_staff=True), user=user)
    titles = [i.title for i in _security(user)]
    assert titles == ["Two-factor authentication was turned on", "Two-factor authentication was turned off"]
    assert {i.target_type for i in _security(user)} == {"auditevent"}
    assert Notification.objects.filter(recipient=user, kind="security", channel="email").count() == 2


def test_email_change_request_and_confirmation_are_security_items(user, committed):
    from apps.preferences.services.email_change import confirm_email_change, request_email_change

    old = user.email
    with committed():
        request_email_change(actor=user, new_email="new@example.com", password=PASSWORD)
    token = email_change_token()
    [requested] = _security(user)
    assert requested.data["event"] == "email_change_requested"
    assert [m.to for m in mail.outbox] == [["new@example.com"]]  # the flow's own link mail only
    sent = len(mail.outbox)
    with committed():
        confirm_email_change(actor=user, token=token, current_session_key=None)
    events = [i.data["event"] for i in _security(user)]
    assert events == ["email_change_requested", "email_changed"]
    # the account's own notice to the old address is the only mail of the confirmation
    assert [m.to for m in mail.outbox[sent:]] == [[old]]


def test_a_deletion_request_is_a_security_item_without_a_second_email(user, committed):
    from apps.preferences.services.deletion import request_account_deletion

    with committed():
        request_account_deletion(actor=user, password=PASSWORD)
    [item] = _security(user)
    assert item.data["event"] == "deletion_requested"
    assert len(mail.outbox) == 1  # the deletion_scheduled mail
    assert not Notification.objects.filter(recipient=user, channel="email").exists()
