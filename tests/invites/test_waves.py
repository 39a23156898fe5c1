"""Invite waves: release once, in priority order, with bound codes, mail and member codes; the admin API."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.invites import services, tasks
from apps.invites.models import InviteCode, InviteWaitlist, InviteWaveConfig
from tests.accounts.factories import AgentFactory, UserFactory

from .factories import WaitlistFactory, WaveFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(network):
    return UserFactory(network=network, network_role="admin")


@pytest.fixture
def admin_client(admin):
    client = APIClient()
    client.force_login(admin)
    return client


def _due(wave: InviteWaveConfig) -> InviteWaveConfig:
    InviteWaveConfig.objects.filter(pk=wave.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    wave.refresh_from_db()
    return wave


def test_release_invites_the_next_confirmed_entries_by_priority_once(
    network, django_capture_on_commit_callbacks
):
    low = WaitlistFactory(network=network, position=1, priority_score=1)
    boosted = WaitlistFactory(network=network, position=9, priority_score=-5)
    WaitlistFactory(network=network, position=2, priority_score=2, email_verified_at=None)  # not confirmed
    later = WaitlistFactory(network=network, position=3, priority_score=3)
    wave = _due(WaveFactory(network=network, invite_count=2, code_ttl_days=7))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.release_wave(wave_id=wave.pk) == 2
    assert services.release_wave(wave_id=wave.pk) == 0  # idempotent per wave
    invited = set(InviteWaitlist.objects.filter(status="invited").values_list("pk", flat=True))
    assert invited == {boosted.pk, low.pk}
    assert InviteWaitlist.objects.get(pk=later.pk).status == "waiting"
    for entry in InviteWaitlist.objects.filter(status="invited").select_related("invite_code"):
        code = entry.invite_code
        assert code.bound_email == entry.email and code.kind == "waitlist" and code.wave_id == wave.pk
        assert timedelta(days=6) < code.expires_at - timezone.now() <= timedelta(days=7)
    wave.refresh_from_db()
    assert (wave.status, wave.released_count) == ("released", 2)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([low.email, boosted.email])
    assert all("invite code" in m.body.lower() for m in mail.outbox)


def test_two_releasers_at_once_release_the_wave_once(transactional_db, network):
    for _ in range(4):
        WaitlistFactory(network=network)
    wave = _due(WaveFactory(network=network, invite_count=3))
    counts: list[int] = []

    def release() -> None:
        try:
            counts.append(services.release_wave(wave_id=wave.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=release) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 3]
    assert InviteCode.objects.filter(wave=wave).count() == 3


def test_member_codes_go_to_every_active_human(network, admin):
    active = [UserFactory(network=network) for _ in range(2)]
    UserFactory(network=network, is_active=False)
    AgentFactory(network=network, agent_owner_user=admin)
    wave = _due(WaveFactory(network=network, invite_count=0, codes_per_user=2, code_max_uses=3))
    services.release_wave(wave_id=wave.pk)
    owners = list(InviteCode.objects.filter(kind="member").values_list("owner_id", "max_uses"))
    assert sorted(owners) == sorted([(u.pk, 3) for u in [*active, admin] for _ in range(2)])


def test_auto_continue_schedules_the_next_wave(network):
    wave = _due(
        WaveFactory(network=network, wave_number=1, repeat_every=timedelta(days=7), auto_continue=True)
    )
    services.release_wave(wave_id=wave.pk)
    nxt = InviteWaveConfig.objects.get(wave_number=2)
    assert nxt.status == "scheduled" and nxt.scheduled_at > timezone.now()


def test_the_beat_job_releases_due_waves_and_skips_paused_ones(network):
    WaitlistFactory(network=network)
    due = _due(WaveFactory(network=network, invite_count=1))
    paused = _due(WaveFactory(network=network, invite_count=1, status="paused"))
    future = WaveFactory(network=network, invite_count=1)
    assert tasks.release_due_waves() == 1
    statuses = dict(InviteWaveConfig.objects.values_list("pk", "status"))
    assert (statuses[due.pk], statuses[paused.pk], statuses[future.pk]) == ("released", "paused", "scheduled")


def test_admin_api_creates_pauses_releases_and_cancels(
    admin_client, network, django_capture_on_commit_callbacks
):
    WaitlistFactory(network=network)
    when = (timezone.now() + timedelta(days=1)).isoformat()
    created = admin_client.post(
        "/api/v1/invite-waves/", {"name": "W", "scheduled_at": when, "invite_count": 5}, format="json"
    )
    assert created.status_code == 201, created.json()
    url = f"/api/v1/invite-waves/{created.json()['id']}/"
    assert admin_client.post(url + "pause/").json()["status"] == "paused"
    assert admin_client.patch(url, {"invite_count": 7}, format="json").json()["invite_count"] == 7
    with django_capture_on_commit_callbacks(execute=True):
        released = admin_client.post(url + "release-now/")
    assert released.status_code == 202
    assert admin_client.get(url).json()["status"] == "released"
    assert admin_client.post(url + "cancel/").status_code == 409
    assert admin_client.patch(url, {"name": "x"}, format="json").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "W", "scheduled_at": "2001-01-01T00:00:00Z"}, "scheduled_at"),
        ({"name": "W", "scheduled_at": "soon"}, "scheduled_at"),
        ({"name": "W", "scheduled_at": "2099-01-01T00:00:00Z", "auto_continue": True}, "repeat_every"),
        ({"name": "W", "scheduled_at": "2099-01-01T00:00:00Z", "invite_count": -1}, "invite_count"),
    ],
)
def test_bad_waves_are_400(admin_client, body, field):
    response = admin_client.post("/api/v1/invite-waves/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not InviteWaveConfig.objects.exists()


def test_members_cannot_see_waves(user_client, network):
    wave = WaveFactory(network=network)
    assert user_client.get("/api/v1/invite-waves/").status_code == 403
    assert user_client.get(f"/api/v1/invite-waves/{wave.pk}/").status_code == 404
