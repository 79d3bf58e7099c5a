"""Settings from the environment: the database URL, production security, the deploy check.

chatapp/settings.py reads the environment at import, so whole-settings checks
run in a subprocess with the variables given; the database parsing is a pure
function and is called directly.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatapp.database_config import SQLITE_OPTIONS, database_config
from tests.support.daphne import ROOT

ONE_YEAR_S = 365 * 24 * 3600


# -- DATABASE_URL ---------------------------------------------------------------


def test_sqlite_by_default_in_the_var_dir(tmp_path: Path) -> None:
    db = database_config({}, tmp_path)
    assert db["ENGINE"] == "chatapp.sqlite"
    assert db["NAME"] == str(tmp_path / "spool.sqlite3")
    assert db["TEST"] == {"NAME": str(tmp_path / "test_spool.sqlite3")}
    assert db["OPTIONS"] == SQLITE_OPTIONS
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    # Kept by the request threads that opened them (chatapp/asgi_handler.py).
    assert db["CONN_MAX_AGE"] == 300
    assert db["CONN_HEALTH_CHECKS"] is True


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
        ("sqlite:////srv/spool/spool.sqlite3", "chatapp.sqlite"),
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
    [("600", 600, True), ("none", None, True), ("0", 0, False), ("", 300, True)],
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


# -- the whole settings module, as a process sees it ----------------------------


def process_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOOL_")}
    env.pop("DATABASE_URL", None)
    # The browser tests set it for pytest-django beside Playwright's loop; a
    # deployment never has it (check --deploy rejects it: async.E001).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return {**env, "SPOOL_VAR_DIR": str(tmp), "DJANGO_SETTINGS_MODULE": "chatapp.settings", **extra}


def production_env(tmp: Path, **extra: str) -> dict[str, str]:
    return process_env(
        tmp,
        SPOOL_PRODUCTION="1",
        SPOOL_SECRET_KEY=secrets.token_urlsafe(50),
        SPOOL_ALLOWED_HOSTS="chat.example.com",
        **extra,
    )


READ_SETTINGS = """
import json
from django.conf import settings
names = json.loads(input())
print(json.dumps({n: getattr(settings, n, None) for n in names}, default=str))
"""


def read_settings(env: dict[str, str], *names: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS], input=json.dumps(names), env=env,
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout)
    return values


SECURITY = (
    "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)  # fmt: skip


def test_production_serving_https_itself(tmp_path: Path) -> None:
    s = read_settings(production_env(tmp_path), *SECURITY, "STORAGES")
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] is None  # a client could fake the header
    assert s["SECURE_HSTS_SECONDS"] == ONE_YEAR_S
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SECURE_HSTS_PRELOAD"] is False
    assert s["SESSION_COOKIE_SECURE"] is s["CSRF_COOKIE_SECURE"] is True
    assert s["STORAGES"]["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )


def test_production_behind_a_tls_proxy(tmp_path: Path) -> None:
    env = production_env(tmp_path, SPOOL_BEHIND_TLS_PROXY="1", SPOOL_HSTS_PRELOAD="1")
    s = read_settings(env, *SECURITY)
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_SSL_REDIRECT"] is False  # the proxy redirects
    assert s["SECURE_HSTS_PRELOAD"] is True


def test_development_needs_no_https_and_no_collectstatic(tmp_path: Path) -> None:
    s = read_settings(process_env(tmp_path), *SECURITY, "STORAGES", "SPOOL_SSE_HEARTBEAT_S")
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SECURE_HSTS_SECONDS"] == 0
    assert s["STORAGES"]["staticfiles"]["BACKEND"] == (
        "django.contrib.staticfiles.storage.StaticFilesStorage"
    )
    assert s["SPOOL_SSE_HEARTBEAT_S"] == 15.0


def test_database_url_reaches_the_settings(tmp_path: Path) -> None:
    env = process_env(tmp_path, DATABASE_URL="postgresql://u@h/db", SPOOL_DB_CONN_MAX_AGE="30")
    db = read_settings(env, "DATABASES")["DATABASES"]["default"]
    assert (db["ENGINE"], db["NAME"], db["CONN_MAX_AGE"]) == (
        "django.db.backends.postgresql", "db", 30,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SPOOL_SSE_HEARTBEAT_S": "0"}, "SPOOL_SSE_HEARTBEAT_S must be a number of seconds"),
        ({"SPOOL_SSE_HEARTBEAT_S": "soon"}, "SPOOL_SSE_HEARTBEAT_S='soon' is not a number"),
        ({"SPOOL_HSTS_SECONDS": "1y"}, "SPOOL_HSTS_SECONDS='1y' is not a whole number"),
    ],
)
def test_bad_settings_name_the_variable(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.DEBUG"],
        env=process_env(tmp_path, **extra), cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr


# -- manage.py check --deploy ---------------------------------------------------


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("behind_proxy", ["0", "1"])
def test_check_deploy_is_clean_in_production(tmp_path: Path, behind_proxy: str) -> None:
    result = check_deploy(production_env(tmp_path, SPOOL_BEHIND_TLS_PROXY=behind_proxy))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_outside_production(tmp_path: Path) -> None:
    """The control: the check does fail when the settings are not fit to deploy."""
    result = check_deploy(process_env(tmp_path))
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # no HSTS
