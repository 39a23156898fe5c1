"""Provisioning on a real Celery worker process: a project database created and dropped."""

from __future__ import annotations

import psycopg
import pytest

from apps.projects.models import Database
from tests.live import wait_for

from .conftest import _drop_created_databases, admin_database_url
from .factories import ProjectFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def databases_env(transactional_db, monkeypatch, settings):
    """The worker process reads PROJECT_DATABASES_URL from its environment."""
    url = admin_database_url()
    monkeypatch.setenv("PROJECT_DATABASES_URL", url)
    settings.PROJECT_DATABASES_URL = url
    yield url
    _drop_created_databases()


@pytest.fixture
def worker(databases_env, celery_worker_process):
    return celery_worker_process


def _status(pk) -> str | None:
    return Database.objects.filter(pk=pk).values_list("status", flat=True).first()


def test_a_real_worker_provisions_and_drops_a_database(worker, user, user_client):
    project = ProjectFactory(owner_user=user)
    response = user_client.post(f"/api/v1/projects/{project.pk}/databases/", {"name": "main"}, format="json")
    assert response.status_code == 202
    pk = response.json()["id"]
    wait_for(lambda: _status(pk) in ("ready", "failed"), timeout=30, message="the worker to provision")
    database = Database.objects.get(pk=pk)
    assert database.status == "ready", database.status_detail
    with psycopg.connect(database.connection_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (database.db_name,)

    assert user_client.delete(f"/api/v1/databases/{pk}/").status_code == 202
    wait_for(lambda: _status(pk) == "deleted", timeout=30, message="the worker to drop it")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(database.connection_url, connect_timeout=5)
