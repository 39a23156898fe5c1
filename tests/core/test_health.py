import pytest
from django.core.management import call_command

from apps.core import tasks


def test_healthz_is_ok_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_dependency_and_no_beat_yet(client):
    body = client.get("/readyz").json()
    assert body["checks"]["postgres"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["celery_beat"]["ok"] is False
    assert body["status"] == "degraded"


@pytest.mark.django_db
def test_readyz_ok_after_a_beat(client):
    tasks.heartbeat()  # eager: what beat schedules every 30 s
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["celery_beat"]["age_seconds"] < 5


@pytest.mark.django_db
def test_readyz_reports_stale_beat(client, settings):
    from apps.core.redis import get_redis

    get_redis().set(tasks.HEARTBEAT_KEY, "1000.0")
    body = client.get("/readyz").json()
    assert body["checks"]["celery_beat"]["ok"] is False
    assert body["status"] == "degraded"


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
    response = client.get("/admin/login/")
    assert b"Colony back office" in response.content
    client.force_login(user)
    assert client.get("/admin/").status_code == 302  # not staff → login page
