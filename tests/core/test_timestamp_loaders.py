"""Time stamps load through psycopg's C loader in a UTC session: the same values Django's gives."""

from __future__ import annotations

import datetime

import psycopg
import pytest
from django.db import connection

from apps.core.db import UTCTimestamptzLoader, _c_timestamptz_loader
from apps.projects.models import Project
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _loader_class():
    return connection.connection.adapters.get_loader(
        psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT
    )


@pytest.mark.skipif(_c_timestamptz_loader() is None, reason="psycopg without its C implementation")
def test_the_connection_loads_timestamptz_with_psycopgs_c_loader():
    connection.ensure_connection()
    assert _loader_class() is UTCTimestamptzLoader


@pytest.mark.parametrize("micro", [0, 1, 120000, 999999])
def test_an_orm_time_stamp_is_what_django_would_load(micro):
    stamp = datetime.datetime(1999, 12, 31, 23, 59, 59, micro, tzinfo=datetime.UTC)
    project = ProjectFactory()
    Project.objects.filter(pk=project.pk).update(created_at=stamp)
    loaded = Project.objects.values_list("created_at", flat=True).get(pk=project.pk)
    assert loaded == stamp and loaded.tzinfo is datetime.UTC  # Django's own loader sets this zone
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz AT TIME ZONE 'Asia/Kolkata'", [stamp])  # a timestamp
        local = datetime.datetime(2000, 1, 1, 5, 29, 59, micro, tzinfo=datetime.UTC).replace(tzinfo=None)
        assert cursor.fetchone()[0] == local
