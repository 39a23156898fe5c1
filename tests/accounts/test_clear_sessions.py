"""The daily `accounts.clear_sessions` job: eagerly and on a real worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.accounts import tasks
from apps.accounts.models import UserSession
from tests.accounts.factories import UserFactory


def _rows(user):
    now = timezone.now()
    live = UserSession.objects.create(
        user=user, session_key="live" + "0" * 36, expires_at=now + timedelta(days=1)
    )
    old_revoked = UserSession.objects.create(
        user=user,
        session_key="oldrevoked" + "0" * 30,
        expires_at=now + timedelta(days=1),
        revoked_at=now - timedelta(days=31),
    )
    old_expired = UserSession.objects.create(
        user=user, session_key="oldexpired" + "0" * 30, expires_at=now - timedelta(days=31)
    )
    recent_revoked = UserSession.objects.create(
        user=user,
        session_key="recentrevoked" + "0" * 27,
        expires_at=now + timedelta(days=1),
        revoked_at=now - timedelta(days=1),
    )
    Session.objects.create(
        session_key="expiredsession" + "0" * 26, session_data="", expire_date=now - timedelta(1)
    )
    return live, old_revoked, old_expired, recent_revoked


@pytest.mark.django_db
def test_clear_sessions_drops_old_rows_and_is_idempotent(network):
    user = UserFactory(network=network)
    live, old_revoked, old_expired, recent_revoked = _rows(user)
    assert tasks.clear_sessions.delay().get() == {"sessions": 1, "user_sessions": 2}
    assert set(UserSession.objects.values_list("pk", flat=True)) == {live.pk, recent_revoked.pk}
    assert tasks.clear_sessions.delay().get() == {"sessions": 0, "user_sessions": 0}


@pytest.mark.live
def test_clear_sessions_runs_on_a_real_worker(celery_worker_process, network):
    user = UserFactory(network=network)
    live, _, _, recent_revoked = _rows(user)
    result = tasks.clear_sessions.delay()
    assert result.get(timeout=20) == {"sessions": 1, "user_sessions": 2}
    assert set(UserSession.objects.values_list("pk", flat=True)) == {live.pk, recent_revoked.pk}
