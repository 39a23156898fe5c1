"""The beat jobs run eagerly through Celery (.delay) and call the services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.preferences import tasks
from apps.preferences.models import AccountDeletionRequest, DataExport, LoginHistory, PendingEmailChange
from tests.preferences.factories import DataExportFactory, DeletionRequestFactory, LoginHistoryFactory

pytestmark = pytest.mark.django_db


def test_job_names_match_the_beat_schedule(settings):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in (
        "preferences.purge_due_accounts",
        "preferences.expire_email_changes",
        "preferences.prune_login_history",
        "preferences.expire_exports",
    ):
        assert name in scheduled
    assert tasks.purge_due_accounts.name == "preferences.purge_due_accounts"
    assert tasks.build_export.name == "preferences.build_export"


def test_purge_job_eagerly(user):
    deletion = DeletionRequestFactory(user=user, scheduled_at=timezone.now() - timedelta(seconds=1))
    assert tasks.purge_due_accounts.delay().get() == {"completed": 1, "failed": 0}
    assert AccountDeletionRequest.objects.get(pk=deletion.pk).status == "completed"
    assert User.objects.get(pk=user.pk).state == "deleted"


def test_expiry_and_prune_jobs_eagerly(user, settings):
    PendingEmailChange.objects.create(
        network=user.network,
        user=user,
        new_email="late@example.org",
        token_hash="f" * 64,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    old = LoginHistoryFactory(user=user)
    LoginHistory.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=settings.LOGIN_HISTORY_RETENTION_DAYS + 2)
    )
    stuck = DataExportFactory(user=user, status="queued")
    DataExport.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(days=1))
    assert tasks.expire_email_changes.delay().get() == 1
    assert tasks.prune_login_history.delay().get() == 1
    tasks.expire_exports.delay().get()
    assert DataExport.objects.get(pk=stuck.pk).status == "failed"


def test_build_export_of_an_unknown_id_does_nothing():
    import uuid

    assert tasks.build_export.delay(str(uuid.uuid4())).get() is None
