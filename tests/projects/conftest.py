"""Fixtures of the projects tests: a moto S3/IAM server, the PostgreSQL server for project databases."""

from __future__ import annotations

import boto3
import pytest
from django.conf import settings as django_settings

from apps.projects.models import Database
from apps.projects.providers.postgres import PostgresProvider
from tests.live import free_port

WEBHOOK_SECRET = "test-infra-webhook-secret"


def admin_database_url() -> str:
    """The test server's URL with database ``postgres`` (where project databases are created)."""
    db = django_settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/postgres?host={host}&port={db.get('PORT') or 5432}"
    return f"postgresql://{auth}@{host}:{db.get('PORT') or 5432}/postgres"


@pytest.fixture(autouse=True)
def infra_webhook_secret(settings):
    settings.INFRA_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


@pytest.fixture
def moto_s3(settings):
    """A moto server (S3 + IAM) on a free port; the PROJECT_STORAGE_* settings point at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    settings.PROJECT_STORAGE_ENDPOINT_URL = endpoint
    settings.PROJECT_STORAGE_REGION = "us-east-1"
    settings.PROJECT_STORAGE_ACCESS_KEY_ID = "platform-key"
    settings.PROJECT_STORAGE_SECRET_ACCESS_KEY = "platform-secret"
    settings.PROJECT_STORAGE_BUCKET_PREFIX = "colony-test-"
    yield endpoint
    server.stop()


def s3_admin(endpoint: str, service: str = "s3"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="platform-key",
        aws_secret_access_key="platform-secret",
    )


def _drop_created_databases() -> None:
    for database in Database.objects.all():
        PostgresProvider().destroy(database)


@pytest.fixture
def project_databases(settings, db):
    """PROJECT_DATABASES_URL = this PostgreSQL server; databases the test created are dropped after."""
    settings.PROJECT_DATABASES_URL = admin_database_url()
    yield settings.PROJECT_DATABASES_URL
    _drop_created_databases()
