"""Database helpers shared by every domain's hot statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection


@contextmanager
def statement_cursor(*, prepared: bool = True) -> Iterator[Any]:
    """A cursor; ``prepared``: its statements are bound server-side and prepared once per connection.

    Django's cursors bind parameters client-side, so PostgreSQL plans every
    execution again; a hot statement whose CTEs cost more to plan than to run
    (the inbox's upsert, the dispatcher's claim: ~1 ms of planning each) is
    planned once per connection instead. Its text must not change between
    calls (parameters only). Not behind a transaction-mode pooler
    (``DATABASE_BEHIND_POOLER``), where nothing may live in a server session:
    there it is a plain cursor. The cursor is Django's wrapper (query logging
    and counting see it).
    """
    if not prepared or getattr(settings, "DATABASE_BEHIND_POOLER", False):
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = connection.connection
    previous = raw.prepare_threshold
    raw.prepare_threshold = 0  # prepare at the first execution (client-bound cursors never prepare)
    try:
        wrapped = (
            connection.make_debug_cursor(ServerBindingCursor(raw))
            if connection.queries_logged
            else connection.make_cursor(ServerBindingCursor(raw))
        )
        with wrapped as cursor:
            yield cursor
    finally:
        raw.prepare_threshold = previous
