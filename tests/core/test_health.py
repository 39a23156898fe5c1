import time

import pytest
from django.core.management import call_command
from django.test import Client

from apps.core import tasks, views
from apps.core.redis import get_redis


def test_healthz_is_ok_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def just_started(monkeypatch):
    monkeypatch.setattr(views, "PROCESS_STARTED_AT", time.time() - 5)


@pytest.fixture
def long_running(monkeypatch, settings):
    monkeypatch.setattr(
        views, "PROCESS_STARTED_AT", time.time() - settings.CELERY_HEARTBEAT_STALE_SECONDS - 60
    )


@pytest.mark.django_db
def test_readyz_is_starting_503_before_the_first_beat_after_start(client, just_started):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "starting"
    assert "waiting for the first Celery beat heartbeat" in body["reason"]
    assert body["checks"]["postgres"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["celery_beat"]["ok"] is False


@pytest.mark.django_db
def test_readyz_is_starting_even_with_an_old_beat_from_before_the_start(client, just_started):
    get_redis().set(tasks.HEARTBEAT_KEY, f"{time.time() - 3600:.3f}")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "starting"


@pytest.mark.django_db
def test_readyz_is_degraded_200_when_no_beat_ever_came(client, long_running):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert "no Celery beat heartbeat recorded" in body["reason"]


@pytest.mark.django_db
def test_readyz_ok_after_a_beat(client, just_started):
    tasks.heartbeat()  # eager: what beat schedules every 30 s
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["celery_beat"]["age_seconds"] < 5


@pytest.mark.django_db
def test_readyz_is_degraded_when_the_beat_is_truly_late(client, long_running, settings):
    late = settings.CELERY_HEARTBEAT_STALE_SECONDS + 30
    get_redis().set(tasks.HEARTBEAT_KEY, f"{time.time() - late:.3f}")
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["celery_beat"]["ok"] is False
    assert body["status"] == "degraded"
    assert "old (late after" in body["reason"]


@pytest.mark.django_db
def test_schema_generation_has_no_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    assert "/api/v1/me/" in out.read_text()


@pytest.mark.django_db
def test_swagger_ui_and_schema_are_served(client):
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/api/v1/schema/").status_code == 200


@pytest.mark.django_db
def test_admin_is_colony_back_office_and_staff_only(client, user):
    from tests.accounts.factories import UserFactory

    # signed out: the admin's login is allauth's page (one login flow, issue 7 §2)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    response = client.get("/admin/login/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    # signed in, not staff: refused, not sent round a login loop
    client.force_login(user)
    assert client.get("/admin/login/").status_code == 403
    # staff: the branded back office
    staff = Client()
    staff.force_login(UserFactory(network=user.network, is_staff=True, is_superuser=True))
    response = staff.get("/admin/")
    assert response.status_code == 200 and b"Colony back office" in response.content
