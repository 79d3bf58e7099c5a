"""A throw-away PostgreSQL database as an extra Django alias, in this process.

The suite's own database is SQLite (pytest-django's test database); code that
takes a ``using`` alias can be run against a real PostgreSQL as well: the
database is created with the schema migrated, registered under the given
aliases (each with its own URL query, e.g. ``?pool=true``) and dropped after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections

from chatapp.database_config import database_config
from tests.support.services import POSTGRES, require_service

ADMIN_URL = f"postgresql://root@{POSTGRES[0]}:{POSTGRES[1]}/postgres"


@contextmanager
def postgres_aliases(aliases: Mapping[str, str]) -> Iterator[str]:
    """Register ``alias -> URL query`` on a fresh database; yields its name.

    The first alias migrates the schema. Connections of other threads must be
    closed by their owners; the drop forces out any that are left.
    """
    require_service("PostgreSQL", POSTGRES)
    import psycopg

    name = f"spool_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        for alias, query in aliases.items():
            url = f"postgresql://root@{POSTGRES[0]}:{POSTGRES[1]}/{name}{query}"
            config = database_config({"DATABASE_URL": url}, Path("/unused"))
            both = {DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS], alias: config}
            connections.settings[alias] = connections.configure_settings(both)[alias]
        call_command("migrate", database=next(iter(aliases)), verbosity=0)
        yield name
    finally:
        for alias in aliases:
            if alias in connections.settings:
                connection = connections[alias]
                connection.close()
                close_pool = getattr(connection, "close_pool", None)  # PostgreSQL's own
                if close_pool is not None:
                    close_pool()
                del connections[alias]
                del connections.settings[alias]
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backend_pids(name: str) -> set[int]:
    """The server processes connected to database ``name`` now."""
    import psycopg

    with psycopg.connect(ADMIN_URL) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return {int(row[0]) for row in rows.fetchall()}


def terminate(pid: int) -> None:
    """Kill one server process, as a database restart or an admin would."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        # With a timeout the call returns once the process is gone, not just signalled.
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
