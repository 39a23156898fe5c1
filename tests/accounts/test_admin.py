"""The users admin through the Django test client as a staff member."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User, UserSession
from apps.core.models import AuditEvent
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import enable_totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(network):
    return UserFactory(network=network, is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def _signed_in_elsewhere(user) -> Client:
    client = Client()
    assert client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 302
    return client


def _action(admin_client, action: str, *users):
    return admin_client.post(
        "/admin/accounts/user/",
        {"action": action, "_selected_action": [str(u.pk) for u in users]},
        follow=True,
    )


def test_changelist_search_and_filters(admin_client, network, other_network, django_assert_max_num_queries):
    for n in range(5):
        UserFactory(network=network, display_name=f"Member {n}")
    ada = UserFactory(network=other_network, email="ada@example.com", display_name="Ada Lovelace")
    enable_totp(ada)
    with django_assert_max_num_queries(12):
        assert admin_client.get("/admin/accounts/user/").status_code == 200
    assert b"ada@example.com" in admin_client.get("/admin/accounts/user/?q=lovelace").content
    response = admin_client.get("/admin/accounts/user/?has_2fa=yes")
    assert list(response.context["cl"].queryset) == [ada]
    response = admin_client.get(f"/admin/accounts/user/?network__id__exact={network.pk}&is_ai__exact=0")
    assert ada not in list(response.context["cl"].queryset)
    for query in ("has_2fa=no", "is_staff__exact=1", "is_active__exact=1"):
        assert admin_client.get(f"/admin/accounts/user/?{query}").status_code == 200


def test_change_and_add_pages_render(admin_client, user):
    assert admin_client.get(f"/admin/accounts/user/{user.pk}/change/").status_code == 200
    assert admin_client.get("/admin/accounts/user/add/").status_code == 200
    assert admin_client.get("/admin/accounts/usersession/").status_code == 200


def test_suspend_ends_sessions_and_unsuspend_restores_login(admin_client, user, staff):
    browser = _signed_in_elsewhere(user)
    response = _action(admin_client, "suspend", user)
    assert response.status_code == 200 and b"Suspended 1 user(s)." in response.content
    user.refresh_from_db()
    assert user.is_suspended
    assert browser.get("/accounts/profile/").status_code == 302
    assert not UserSession.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert Client().post("/accounts/login/", {"login": user.email, "password": PASSWORD})["Location"] != (
        "/accounts/profile/"
    )
    _action(admin_client, "unsuspend", user)
    user.refresh_from_db()
    assert not user.is_suspended
    assert _signed_in_elsewhere(user).get("/accounts/profile/").status_code == 200
    actions = set(AuditEvent.objects.filter(target_id=user.pk).values_list("action", flat=True))
    assert {"account.user.suspended", "account.user.unsuspended"} <= actions
    assert AuditEvent.objects.filter(action="account.user.suspended", actor=staff).exists()


def test_force_logout_everywhere(admin_client, user):
    first, second = _signed_in_elsewhere(user), _signed_in_elsewhere(user)
    response = _action(admin_client, "force_logout_everywhere", user)
    assert b"Ended 2 session(s)." in response.content
    assert first.get("/accounts/profile/").status_code == 302
    assert second.get("/accounts/profile/").status_code == 302
    assert AuditEvent.objects.filter(action="account.user.forced_logout", target_id=user.pk).exists()


def test_reset_two_factor_removes_devices_and_is_logged(admin_client, user):
    enable_totp(user)
    response = _action(admin_client, "reset_two_factor", user)
    assert b"Reset 2FA for 1 user(s)." in response.content
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="account.2fa.reset", target_id=user.pk).exists()
    # signing in no longer asks for a code
    response = Client().post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response["Location"] == "/accounts/profile/"


def test_set_role_action_is_audited(admin_client, user):
    _action(admin_client, "make_moderator", user)
    user.refresh_from_db()
    assert user.network_role == User.NetworkRole.MODERATOR
    event = AuditEvent.objects.get(action="account.user.role_changed", target_id=user.pk)
    assert event.data == {"before": "member", "after": "moderator"}


def test_non_staff_cannot_use_the_admin(user):
    client = Client()
    client.force_login(user)
    response = client.post("/admin/accounts/user/", {"action": "suspend", "_selected_action": [str(user.pk)]})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user.refresh_from_db()
    assert user.suspended_until is None or user.suspended_until < timezone.now()
