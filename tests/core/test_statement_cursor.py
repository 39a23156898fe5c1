"""``statement_cursor``: a hot statement is planned once per connection, never behind a transaction pooler."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.db import statement_cursor

pytestmark = pytest.mark.django_db

SQL = "SELECT %s::int + 1 AS colony_statement_cursor_probe"


def _prepared() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%colony_statement_cursor_probe%"],
        )
        return cursor.fetchone()[0]


def test_a_statement_is_prepared_once_and_gives_the_plain_result():
    for value in (1, 2, 3):
        with statement_cursor() as cursor:
            cursor.execute(SQL, [value])
            assert cursor.fetchone() == (value + 1,)
    assert _prepared() == 1
    # the connection's other cursors still bind client-side and prepare nothing
    with connection.cursor() as cursor:
        cursor.execute(SQL + " -- plain", [1])
    assert _prepared() == 1


def test_behind_a_transaction_pooler_nothing_is_prepared(settings):
    settings.DATABASE_BEHIND_POOLER = True
    with statement_cursor() as cursor:
        cursor.execute(SQL, [5])
        assert cursor.fetchone() == (6,)
    assert _prepared() == 0
