"""Settings from the environment: the database URL (a pure function, called directly)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatapp.database_config import SQLITE_OPTIONS, database_config

# -- DATABASE_URL ---------------------------------------------------------------


def test_sqlite_by_default_in_the_var_dir(tmp_path: Path) -> None:
    db = database_config({}, tmp_path)
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "spool.sqlite3")
    assert db["TEST"] == {"NAME": str(tmp_path / "test_spool.sqlite3")}
    assert db["OPTIONS"] == SQLITE_OPTIONS
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert db["CONN_MAX_AGE"] == 0
    assert db["CONN_HEALTH_CHECKS"] is False


def test_sqlite_path_from_its_own_variable(tmp_path: Path) -> None:
    db = database_config({"SPOOL_SQLITE_PATH": "/data/chat.db"}, tmp_path)
    assert db["NAME"] == "/data/chat.db"


def test_postgresql_url_with_options() -> None:
    url = "postgresql://spool:p%40ss%2Fword@db.internal:6432/chat?sslmode=require&pool=true"
    db = database_config({"DATABASE_URL": url}, Path("/unused"))
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"]) == ("spool", "p@ss/word")
    assert (db["HOST"], str(db["PORT"]), db["NAME"]) == ("db.internal", "6432", "chat")
    assert db["OPTIONS"] == {"sslmode": "require", "pool": True}
    assert db["CONN_MAX_AGE"] == 0  # psycopg's pool requires it


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("postgres://u@h/db", "django.db.backends.postgresql"),
        ("mysql://u:p@h:3306/db", "django.db.backends.mysql"),
        ("sqlite:////srv/spool/spool.sqlite3", "django.db.backends.sqlite3"),
    ],
)
def test_every_scheme_dj_database_url_knows(url: str, engine: str) -> None:
    assert database_config({"DATABASE_URL": url}, Path("/unused"))["ENGINE"] == engine


def test_a_sqlite_url_keeps_the_pragmas_and_its_own_options_win() -> None:
    db = database_config({"DATABASE_URL": "sqlite:////srv/spool.db?timeout=5"}, Path("/unused"))
    assert db["NAME"] == "/srv/spool.db"
    assert db["OPTIONS"] == {**SQLITE_OPTIONS, "timeout": 5}


@pytest.mark.parametrize(
    ("value", "max_age", "health_checks"),
    [("600", 600, True), ("none", None, True), ("0", 0, False), ("", 0, False)],
)
def test_conn_max_age(value: str, max_age: int | None, health_checks: bool) -> None:
    env = {"DATABASE_URL": "postgresql://u@h/db", "SPOOL_DB_CONN_MAX_AGE": value}
    db = database_config(env, Path("/unused"))
    assert db["CONN_MAX_AGE"] == max_age
    assert db["CONN_HEALTH_CHECKS"] is health_checks


def test_health_checks_can_be_turned_off() -> None:
    env = {"SPOOL_DB_CONN_MAX_AGE": "60", "SPOOL_DB_CONN_HEALTH_CHECKS": "0"}
    assert database_config(env, Path("/unused"))["CONN_HEALTH_CHECKS"] is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "oracel://u@h/db"}, "DATABASE_URL: Scheme 'oracel://' is unknown"),
        ({"DATABASE_URL": "postgresql://u@h:port/db"}, "DATABASE_URL: This string is not a valid"),
        ({"SPOOL_DB_CONN_MAX_AGE": "1h"}, "SPOOL_DB_CONN_MAX_AGE='1h': give whole seconds"),
        ({"SPOOL_DB_CONN_HEALTH_CHECKS": "maybe"}, "SPOOL_DB_CONN_HEALTH_CHECKS='maybe'"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(")):
        database_config(env, Path("/unused"))
