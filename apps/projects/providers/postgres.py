"""Project databases: a real database and login role on ``PROJECT_DATABASES_URL``.

The URL's account needs CREATEROLE and CREATEDB. Every statement runs in
autocommit (CREATE/DROP DATABASE cannot run in a transaction); names are
quoted with ``sql.Identifier`` and the password is a ``sql.Literal``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from .base import Provider, ProviderError, ProviderUnavailable

CONNECT_TIMEOUT_SECONDS = 10


def admin_url() -> str:
    url = settings.PROJECT_DATABASES_URL
    if not url:
        raise ProviderUnavailable("Project databases are not configured (PROJECT_DATABASES_URL).")
    return url


def _connect() -> psycopg.Connection:
    try:
        return psycopg.connect(admin_url(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.OperationalError as exc:
        raise ProviderError("The database server is unreachable.") from exc


def connection_url(*, role: str, password: str, db_name: str) -> str:
    """A URL for the project's role on the server ``PROJECT_DATABASES_URL`` points at."""
    params = conninfo_to_dict(admin_url())
    host = str(params.get("host") or "127.0.0.1")
    port = str(params.get("port") or "5432")
    auth = f"{quote(role, safe='')}:{quote(password, safe='')}"
    if host.startswith("/"):
        return f"postgresql://{auth}@/{quote(db_name, safe='')}?host={quote(host, safe='')}&port={port}"
    if ":" in host:
        host = f"[{host}]"
    return f"postgresql://{auth}@{host}:{port}/{quote(db_name, safe='')}"


class PostgresProvider(Provider):
    name = "postgres"

    def provision(self, resource: Any) -> dict[str, Any]:
        role, db_name = resource.role_name, resource.db_name
        password = secrets.token_urlsafe(24)
        try:
            with _connect() as conn:
                role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
                verb = "ALTER" if role_exists else "CREATE"
                conn.execute(
                    sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(password)
                    )
                )
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(db_name), sql.Identifier(role)
                        )
                    )
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db_name)))
        except psycopg.Error as exc:
            raise ProviderError(f"The database server refused: {exc.sqlstate or type(exc).__name__}") from exc
        return {
            "provider_ref": db_name,
            "connection_url": connection_url(role=role, password=password, db_name=db_name),
        }

    def destroy(self, resource: Any) -> None:
        try:
            with _connect() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(resource.db_name)
                    )
                )
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(resource.role_name)))
        except psycopg.Error as exc:
            raise ProviderError(f"The database server refused: {exc.sqlstate or type(exc).__name__}") from exc

    def refresh(self, resource: Any) -> dict[str, Any]:
        try:
            with _connect() as conn:
                row = conn.execute(
                    "SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s", [resource.db_name]
                ).fetchone()
        except psycopg.Error as exc:
            raise ProviderError(f"The database server refused: {exc.sqlstate or type(exc).__name__}") from exc
        return {"size_bytes": int(row[0])} if row else {}
