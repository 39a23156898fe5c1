"""Account deletion: request with password (+ TOTP), grace period, cancel, purge (eager)."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User, UserSession
from apps.apikeys.models import ApiKey
from apps.core.exceptions import ValidationFailed
from apps.core.models import AuditEvent
from apps.preferences import services
from apps.preferences.models import AccountDeletionRequest
from apps.preferences.services import deletion as deletion_services
from tests.accounts.factories import PASSWORD, UserFactory
from tests.preferences.factories import DeletionRequestFactory
from tests.preferences.helpers import (
    account_with_everything,
    assert_purged,
    confirmed_totp,
    current_code,
    logged_in_client,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/account/deletion-request/"


def test_request_schedules_deletion_revokes_other_sessions_and_mails(
    network, settings, django_capture_on_commit_callbacks
):
    user = UserFactory(network=network)
    client, key = logged_in_client(user)
    _other, other_key = logged_in_client(user, user_agent="tablet")
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, {"password": PASSWORD, "reason": "moving on"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["reason"] == "moving on"
    deletion = AccountDeletionRequest.objects.get(user=user)
    expected = before + timedelta(days=settings.ACCOUNT_DELETION_GRACE_DAYS)
    assert abs((deletion.scheduled_at - expected).total_seconds()) < 5
    assert User.objects.get(pk=user.pk).state == "pending_deletion"
    assert UserSession.objects.get(session_key=other_key).revoked_at is not None
    assert not Session.objects.filter(session_key=other_key).exists()
    assert UserSession.objects.get(session_key=key).revoked_at is None
    assert mail.outbox[-1].to == [user.email]
    assert "cancel" in mail.outbox[-1].body
    assert client.get(URL).json()["id"] == str(deletion.pk)


def test_network_setting_overrides_grace_days(user_client, user, network):
    network.settings = {"deletion_grace_days": 3}
    network.save()
    user_client.post(URL, {"password": PASSWORD}, format="json")
    deletion = AccountDeletionRequest.objects.get(user=user)
    assert (deletion.scheduled_at - deletion.created_at).days in (2, 3)


def test_cancel_during_grace_restores_the_account(user_client, user):
    user_client.post(URL, {"password": PASSWORD}, format="json")
    response = user_client.delete(URL)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert User.objects.get(pk=user.pk).state == "active"
    assert user_client.get(URL).status_code == 404
    assert user_client.delete(URL).status_code == 404
    # and it can be requested again later
    assert user_client.post(URL, {"password": PASSWORD}, format="json").status_code == 201


def test_cancel_after_the_grace_period_is_409(user_client, user):
    user_client.post(URL, {"password": PASSWORD}, format="json")
    AccountDeletionRequest.objects.update(scheduled_at=timezone.now() - timedelta(minutes=1))
    response = user_client.delete(URL)
    assert response.status_code == 409
    assert User.objects.get(pk=user.pk).state == "pending_deletion"


def test_second_request_is_409(user_client, user):
    assert user_client.post(URL, {"password": PASSWORD}, format="json").status_code == 201
    response = user_client.post(URL, {"password": PASSWORD}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "deletion_pending"
    assert AccountDeletionRequest.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"password": "wrong password"},
        {},
        {"password": PASSWORD, "unknown": 1},
        {"password": PASSWORD, "reason": "x" * 3000},
    ],
)
def test_bad_input_is_400_and_nothing_changes(user_client, user, body):
    response = user_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert not AccountDeletionRequest.objects.exists()
    assert User.objects.get(pk=user.pk).state == "active"


def test_get_without_request_is_404(user_client):
    assert user_client.get(URL).status_code == 404


class TestSecondFactor:
    def test_code_is_required_when_totp_is_confirmed(self, user):
        confirmed_totp(user)
        with pytest.raises(ValidationFailed) as missing:
            services.request_account_deletion(actor=user, password=PASSWORD)
        assert (missing.value.field, missing.value.code) == ("code", "mfa_code_required")
        with pytest.raises(ValidationFailed) as wrong:
            services.request_account_deletion(actor=user, password=PASSWORD, code="000000")
        assert wrong.value.code == "invalid_code"
        assert not AccountDeletionRequest.objects.exists()

    def test_valid_totp_code_schedules_deletion(self, user):
        device = confirmed_totp(user)
        deletion = services.request_account_deletion(actor=user, password=PASSWORD, code=current_code(device))
        assert deletion.status == "pending"

    def test_unconfirmed_device_does_not_require_a_code(self, user):
        TOTPDevice.objects.create(user=user, name="half-enrolled", confirmed=False)
        assert services.request_account_deletion(actor=user, password=PASSWORD).status == "pending"


# --- purge --------------------------------------------------------------------


def test_purge_after_grace_anonymises_and_strips_the_account(network, django_capture_on_commit_callbacks):
    user, agent, deletion, client = account_with_everything(network)
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.purge_due_accounts()
    assert counts["completed"] == 1
    assert_purged(user, agent, deletion)
    assert client.get("/api/v1/account/settings/").status_code in (401, 403)


def test_purge_twice_changes_nothing_the_second_time(network):
    user, agent, deletion, _ = account_with_everything(network)
    services.purge_due_accounts()
    user.refresh_from_db()
    snapshot = (user.handle, user.email, user.updated_at)
    assert services.purge_due_accounts() == {"completed": 0, "failed": 0}
    assert services.purge_account(deletion_id=deletion.pk) is None
    user.refresh_from_db()
    assert (user.handle, user.email, user.updated_at) == snapshot
    assert_purged(user, agent, deletion)


def test_request_inside_grace_is_not_purged(network):
    deletion = DeletionRequestFactory(user=UserFactory(network=network))
    assert services.purge_due_accounts() == {"completed": 0, "failed": 0}
    deletion.refresh_from_db()
    assert deletion.status == "pending"


def test_failed_step_rolls_back_marks_failed_and_is_retried(network):
    user = UserFactory(network=network, display_name="Boom")
    ApiKey.objects.create(
        network=network,
        user=user,
        name="ci",
        prefix=f"q{user.pk.hex[:10]}",
        secret_hash="0" * 64,
        scopes=["full"],
    )
    deletion = DeletionRequestFactory(user=user, scheduled_at=timezone.now() - timedelta(minutes=1))

    def explode(purged):
        if purged.display_name == "Boom":
            raise RuntimeError("ledger balance is not zero")

    deletion_services.register_purge_step("test_explode")(explode)
    try:
        assert services.purge_due_accounts() == {"completed": 0, "failed": 1}
        deletion.refresh_from_db()
        assert deletion.status == "failed"
        assert "ledger balance is not zero" in deletion.error
        assert deletion.attempts == 1
        assert ApiKey.objects.get(user=user).revoked_at is None  # earlier steps rolled back
        assert User.objects.get(pk=user.pk).state == "active"
        # the same run does not retry it; the next run does, and succeeds once the cause is gone
        User.objects.filter(pk=user.pk).update(display_name="Fixed")
        AccountDeletionRequest.objects.filter(pk=deletion.pk).update(
            last_attempt_at=timezone.now() - timedelta(hours=1)
        )
        assert services.purge_due_accounts() == {"completed": 1, "failed": 0}
        deletion.refresh_from_db()
        assert (deletion.status, deletion.error, deletion.attempts) == ("completed", "", 2)
    finally:
        deletion_services._EXTRA_PURGE_STEPS[:] = [
            step for step in deletion_services._EXTRA_PURGE_STEPS if step[0] != "test_explode"
        ]


@pytest.mark.django_db(transaction=True)
def test_purge_skips_a_request_another_worker_holds(network):
    """SKIP LOCKED: a request row locked by another transaction is neither claimed nor waited for."""
    import threading

    from django.db import connection, transaction

    deletion = DeletionRequestFactory(
        user=UserFactory(network=network), scheduled_at=timezone.now() - timedelta(minutes=1)
    )
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                list(AccountDeletionRequest.objects.select_for_update().filter(pk=deletion.pk))
                locked.set()
                release.wait(20)
        finally:
            connection.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    try:
        assert locked.wait(10)
        assert services.purge_due_accounts() == {"completed": 0, "failed": 0}
        deletion.refresh_from_db()
        assert deletion.status == "pending"
    finally:
        release.set()
        thread.join(10)
    assert services.purge_due_accounts() == {"completed": 1, "failed": 0}


def test_admin_cancel_and_run_now_call_the_services(network, django_capture_on_commit_callbacks):
    staff = UserFactory(network=network, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    waiting = DeletionRequestFactory(user=UserFactory(network=network))
    User.objects.filter(pk=waiting.user_id).update(state="pending_deletion")
    response = client.post(
        "/admin/preferences/accountdeletionrequest/",
        {"action": "cancel_selected", "_selected_action": [str(waiting.pk)]},
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == "cancelled"
    assert User.objects.get(pk=waiting.user_id).state == "active"

    user, agent, deletion, _ = account_with_everything(network)
    AccountDeletionRequest.objects.filter(pk=deletion.pk).update(
        scheduled_at=timezone.now() + timedelta(days=9)
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/preferences/accountdeletionrequest/",
            {"action": "run_now", "_selected_action": [str(deletion.pk)]},
        )
    assert_purged(user, agent, deletion)
    event = AuditEvent.objects.get(action="account.deletion.completed", target_id=deletion.pk)
    assert event.actor_id == staff.pk and event.data["forced"] is True


def test_admin_changelist_runs_constant_queries(network, django_assert_max_num_queries):
    staff = UserFactory(network=network, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    for _ in range(8):
        DeletionRequestFactory(user=UserFactory(network=network))
    with django_assert_max_num_queries(15):
        assert client.get("/admin/preferences/accountdeletionrequest/").status_code == 200
    assert client.get("/admin/preferences/accountdeletionrequest/", {"q": "user"}).status_code == 200


def test_account_without_a_password_is_told_to_set_one(user):
    user.set_unusable_password()  # e.g. signed up through GitHub
    user.save(update_fields=["password"])
    client, _ = logged_in_client(user)
    response = client.post(URL, {"password": "anything"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "password_not_set"
    assert not AccountDeletionRequest.objects.exists()
