"""Database helpers shared by every domain's hot statements."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from psycopg.adapt import Loader as _Loader
from psycopg.types.datetime import TimestamptzLoader as _TimestamptzLoader


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


# --- time stamps as the API writes them ------------------------------------------------


class IsoTimestamptzLoader(_TimestamptzLoader):
    """``timestamptz`` text straight to the API's ISO 8601 form: ``2026-12-06T21:20:01.120000Z``.

    A list of plain rows (``apps.core.api.plain_rows``) would otherwise parse
    every time stamp PostgreSQL sends (``2026-12-06 21:20:01.12+00``) into a
    ``datetime`` in Python, only for the serializer to format it back into a
    string: the two together are the largest cost of a page of rows. In a
    UTC session (Django's, with ``USE_TZ``) that text *is* the value, so it
    is rewritten into exactly what DRF's ``DateTimeField`` prints for the
    UTC zone — six fraction digits, none when they are all zero, ``Z`` for
    ``+00:00``. Anything else (another offset, a BC date, ``infinity``) is
    loaded as psycopg would, and formatted by the serializer as before.
    """

    def load(self, data: Any) -> Any:
        text = str(data, "ascii")  # PostgreSQL's ISO date style is ASCII
        size = len(text)
        if size >= 22 and text[-3:] == "+00" and text[10] == " " and text[4] == "-":
            if size > 22:  # a fraction: PostgreSQL drops its trailing zeros, Python prints six digits
                return f"{text[:10]}T{text[11:19]}.{text[20:-3]:0<6}Z"
            return f"{text[:10]}T{text[11:19]}Z"
        return super().load(data)


def _iso_timestamps(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    adapters = getattr(getattr(context.get("cursor"), "cursor", None), "adapters", None)
    if adapters is not None:  # this statement's cursor only
        adapters.register_loader("timestamptz", IsoTimestamptzLoader)
    return execute(sql, params, many, context)


@contextmanager
def iso_text_timestamps(using: str = "default") -> Iterator[None]:
    """Statements run inside load ``timestamptz`` columns as API text (``IsoTimestamptzLoader``)."""
    from django.db import connections

    with connections[using].execute_wrapper(_iso_timestamps):
        yield


@cache
def _c_timestamptz_loader() -> Any:
    """psycopg's own (C) ``timestamptz`` text loader, or None where only the Python one exists."""
    import psycopg
    from psycopg.pq import Format

    loader = psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)
    if loader is None or loader.__module__.startswith(("psycopg.", "django.")):
        return None
    return loader


class UTCTimestamptzLoader(_Loader):
    """psycopg's C ``timestamptz`` loader behind the ``timezone`` attribute Django's cursors look for.

    The C class cannot be subclassed; each instance's ``load`` is the C
    loader's bound method, so loading a value runs no Python frame.
    """

    timezone = datetime.UTC  # Django's create_cursor() compares this with the connection's zone

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self.load = _c_timestamptz_loader()(oid, context).load  # type: ignore[method-assign]

    def load(self, data: Any) -> Any:  # replaced per instance (above)
        raise NotImplementedError


def use_c_timestamptz_loader(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Every ``timestamptz`` loaded by psycopg's C loader (``connection_created``): ~0.4 µs, not ~2.6 µs.

    Django registers a Python subclass of psycopg's *Python* loader on every
    connection only to replace each value's ``tzinfo`` with the connection's
    zone. In a UTC session psycopg's C loader already returns that very value
    (``tzinfo=datetime.timezone.utc``), so where Django's zone is UTC the C
    loader takes over (``UTCTimestamptzLoader``); any other zone keeps Django's.
    """
    if connection.vendor != "postgresql" or not settings.USE_TZ or connection.timezone is not datetime.UTC:
        return
    raw = getattr(connection, "connection", None)
    if _c_timestamptz_loader() is not None and raw is not None:
        raw.adapters.register_loader("timestamptz", UTCTimestamptzLoader)
