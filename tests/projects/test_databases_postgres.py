"""Project databases created and dropped for real on the test PostgreSQL server."""

from __future__ import annotations

import psycopg
import pytest

from apps.projects.models import Database
from apps.projects.providers.postgres import PostgresProvider

from .factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _create(client, project, capture, name="main") -> Database:
    with capture(execute=True):
        response = client.post(f"/api/v1/projects/{project.pk}/databases/", {"name": name}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "provisioning"
    return Database.objects.get(pk=response.json()["id"])


def _exists(admin_url: str, db_name: str, role_name: str) -> tuple[bool, bool]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role_name]).fetchone()
    return bool(db), bool(role)


def test_database_is_created_and_its_url_connects_then_delete_drops_it(
    project_databases, user, user_client, django_capture_on_commit_callbacks
):
    project = ProjectFactory(owner_user=user, slug="shop-api")
    database = _create(user_client, project, django_capture_on_commit_callbacks)
    assert database.status == "ready", database.status_detail
    assert database.db_name.startswith("cdb_shop_api_") and len(database.db_name) <= 63
    assert _exists(project_databases, database.db_name, database.role_name) == (True, True)

    url = database.connection_url
    assert url.startswith("postgresql://" + database.role_name + ":")
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            database.role_name,
            database.db_name,
        )
        conn.execute("CREATE TABLE notes (id int)")  # the role owns its database

    body = user_client.get(f"/api/v1/databases/{database.pk}/").json()
    assert "connection_url" not in body and url not in str(body)
    assert body["connection_url_hint"] == f"…{url[-4:]}"
    raw = Database._meta.get_field("connection_url").raw_ciphertext(Database.objects.get(pk=database.pk))
    assert raw and b"postgresql://" not in raw

    with django_capture_on_commit_callbacks(execute=True):
        assert user_client.delete(f"/api/v1/databases/{database.pk}/").status_code == 202
    database.refresh_from_db()
    assert database.status == "deleted" and database.connection_url is None
    assert _exists(project_databases, database.db_name, database.role_name) == (False, False)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)


def test_another_projects_role_cannot_connect_to_this_database(
    project_databases, user, user_client, django_capture_on_commit_callbacks
):
    first = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    second = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    foreign_url = second.connection_url.rsplit("/", 1)[0] + "/" + first.db_name
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(foreign_url, connect_timeout=5)


def test_provisioning_again_keeps_one_database_and_a_working_password(
    project_databases, user, user_client, django_capture_on_commit_callbacks
):
    database = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    result = PostgresProvider().provision(database)  # a redelivered call: role altered, database kept
    with psycopg.connect(result["connection_url"], connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_database_size_is_refreshed(project_databases, user, user_client, django_capture_on_commit_callbacks):
    from apps.projects.services import refresh_storage_usage

    database = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    assert refresh_storage_usage() == 1
    database.refresh_from_db()
    assert database.size_bytes and database.size_bytes > 0


def test_database_name_is_unique_per_project(
    project_databases, user, user_client, django_capture_on_commit_callbacks
):
    project = ProjectFactory(owner_user=user)
    _create(user_client, project, django_capture_on_commit_callbacks)
    response = user_client.post(f"/api/v1/projects/{project.pk}/databases/", {"name": "main"}, format="json")
    assert response.status_code == 400 and "name" in response.json()
