"""The preferences jobs on a real Celery worker process (enqueued with .delay(), DB polled)."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.accounts.models import User, UserSession
from apps.apikeys.models import ApiKey
from apps.preferences import tasks
from apps.preferences.models import AccountDeletionRequest, DataExport
from tests.live import wait_for
from tests.preferences.helpers import account_with_everything, assert_purged

pytestmark = [pytest.mark.live]


def test_purge_due_accounts_on_a_real_worker_is_idempotent(celery_worker_process, network):
    user, agent, deletion, _ = account_with_everything(network)
    tasks.purge_due_accounts.delay()
    wait_for(
        lambda: AccountDeletionRequest.objects.get(pk=deletion.pk).status == "completed",
        timeout=30,
        message="the purge to complete",
    )
    assert_purged(user, agent, deletion)
    user.refresh_from_db()
    snapshot = (user.handle, user.email, user.updated_at)
    keys = list(ApiKey.objects.filter(user=user).values_list("revoked_at", flat=True))

    result = tasks.purge_due_accounts.delay()
    assert result.get(timeout=30) == {"completed": 0, "failed": 0}
    user.refresh_from_db()
    assert (user.handle, user.email, user.updated_at) == snapshot
    assert list(ApiKey.objects.filter(user=user).values_list("revoked_at", flat=True)) == keys
    assert not UserSession.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert User.objects.get(pk=agent.pk).agent_status == "disabled"


def test_build_export_on_a_real_worker_produces_the_zip(celery_worker_process, user_client, user):
    response = user_client.post("/api/v1/account/exports/")
    assert response.status_code == 201
    export_id = response.json()["id"]
    export = wait_for(
        lambda: DataExport.objects.filter(pk=export_id, status="ready").first(),
        timeout=30,
        message="the export to be ready",
    )
    assert export.progress == 100
    assert export.expires_at > timezone.now() + timedelta(days=6)
    with default_storage.open(export.file.name, "rb") as fh:
        archive = zipfile.ZipFile(io.BytesIO(fh.read()))
    assert json.loads(archive.read("profile.json"))["email"] == user.email
    detail = user_client.get(f"/api/v1/account/exports/{export_id}/").json()
    assert detail["status"] == "ready" and detail["download_url"]
    default_storage.delete(export.file.name)
