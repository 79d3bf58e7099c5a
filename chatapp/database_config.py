"""``DATABASES["default"]`` from the environment (dj-database-url does the parsing).

Contract: ``database_config(env, var_dir)`` reads only ``env`` (a mapping such
as ``os.environ``) and returns a Django database dict, or raises
``ImproperlyConfigured`` with a message naming the variable at fault.

- No ``DATABASE_URL``: SQLite (through ``chatapp.sqlite``, which queues writers
  in the process) at ``SPOOL_SQLITE_PATH`` (default
  ``<var_dir>/spool.sqlite3``), in WAL mode; the test database sits beside it.
- ``DATABASE_URL``: any scheme dj-database-url knows (``postgresql://``,
  ``sqlite:///``, ``mysql://``…); query parameters become ``OPTIONS``
  (``?sslmode=require``). A SQLite URL gets the same pragmas as the default.
  ``?pool=true`` on a PostgreSQL URL turns on psycopg's connection pool.
- ``SPOOL_DB_CONN_MAX_AGE``: seconds a connection is kept for reuse, or
  ``none`` to keep it for the life of the process (default 300, or 0 with
  ``?pool=true``: see below).
- ``SPOOL_DB_CONN_HEALTH_CHECKS``: check a kept connection before reusing it
  (default on whenever connections are kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

SQLITE_ENGINE = "django.db.backends.sqlite3"
# Django's SQLite backend with write transactions queued in the process
# (chatapp/sqlite/base.py): what Spool runs on whenever the database is SQLite.
SPOOL_SQLITE_ENGINE = "chatapp.sqlite"
# Seconds a SQLite writer waits for the lock before "database is locked": a
# checkpoint of every live answer can queue up behind a long write.
SQLITE_BUSY_TIMEOUT_S = 20
SQLITE_OPTIONS: dict[str, Any] = {
    # WAL lets the streaming checkpoints and page reads run side by side;
    # IMMEDIATE takes the write lock up front so concurrent writers wait (busy
    # timeout) instead of failing mid-transaction.
    "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
    "transaction_mode": "IMMEDIATE",
    "timeout": SQLITE_BUSY_TIMEOUT_S,
}

# Requests run their database work on a fixed pool of threads
# (chatapp/asgi_handler.py), each keeping its connections: a connection is
# reused by the next call on its thread for this long, so a process holds at
# most SPOOL_REQUEST_THREADS of them (+1 for the run store). Opening one per
# call cost more than the page it served (SQLite's PRAGMAs: a home page went
# from 1.7 to 6 ms of CPU). psycopg's pool (``?pool=true``) keeps connections
# itself and requires 0: each call hands its connection back.
DEFAULT_CONN_MAX_AGE = 300


def database_config(env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        config: dict[str, Any] = {
            "ENGINE": SPOOL_SQLITE_ENGINE,
            "NAME": env.get("SPOOL_SQLITE_PATH") or str(var_dir / "spool.sqlite3"),
            "TEST": {"NAME": str(var_dir / "test_spool.sqlite3")},
        }
    else:
        try:
            config = dict(dj_database_url.parse(url))
        except ValueError as error:  # UnknownSchemeError and ParseError are ValueErrors
            raise ImproperlyConfigured(f"DATABASE_URL: {error}") from None
    if config["ENGINE"] in (SQLITE_ENGINE, SPOOL_SQLITE_ENGINE):
        config["ENGINE"] = SPOOL_SQLITE_ENGINE
        # The URL's own options (?timeout=5) win over the defaults.
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    pooled = bool(config.get("OPTIONS", {}).get("pool"))
    max_age = _conn_max_age(env, 0 if pooled else DEFAULT_CONN_MAX_AGE)
    config["CONN_MAX_AGE"] = max_age
    config["CONN_HEALTH_CHECKS"] = _bool(
        env, "SPOOL_DB_CONN_HEALTH_CHECKS", default=max_age is None or max_age > 0
    )
    return config


def _conn_max_age(env: Mapping[str, str], default: int | None) -> int | None:
    value = env.get("SPOOL_DB_CONN_MAX_AGE", "").strip().lower()
    if not value:
        return default
    if value == "none":
        return None
    if not value.isascii() or not value.isdigit():
        raise ImproperlyConfigured(
            f"SPOOL_DB_CONN_MAX_AGE={value!r}: give whole seconds (0 closes connections "
            "after each request) or 'none' (keep them for the life of the process)."
        )
    return int(value)


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use 1 or 0.")
