"""PostgreSQL connections under daphne: bounded by the request threads, or by the pool.

Requests run their database work on a fixed pool of threads
(chatapp/asgi_handler.py), each keeping its connection (CONN_MAX_AGE 300 s by
default), so however many pages load, a process holds at most one connection
per request thread; ``?pool=true`` hands every connection back to psycopg's
pool after each call (chatapp/database_config.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.client import SpoolClient
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.services import POSTGRES, require_service

pytestmark = pytest.mark.services
ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"
# Browsers loading pages at once, and pages each: enough that connections
# made per request would pile up past both bounds (before the request
# threads, a 60 s max age left 31 open).
USERS = 8
PAGES_EACH = 30
# psycopg_pool's default size when the URL says only pool=true.
POOL_SIZE = 4


@contextmanager
def database_server(
    tmp: Path, fake_llm: FakeOpenAIServer, query: str = "", **extra: str
) -> Iterator[tuple[DaphneServer, str]]:
    require_service("PostgreSQL", POSTGRES)
    import psycopg

    name = f"spool_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql://root@127.0.0.1:5432/{name}{query}"
        with run_daphne(tmp, spool_env(fake_llm, DATABASE_URL=url, **extra)) as server:
            yield server, name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connections_to(name: str) -> int:
    import psycopg

    with psycopg.connect(ADMIN_URL) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def load_pages(server: DaphneServer) -> None:
    clients = [SpoolClient(server.url).signup() for _ in range(USERS)]

    def browse(client: SpoolClient) -> None:
        for _ in range(PAGES_EACH):
            assert client.http.get("/").status_code == 200

    with ThreadPoolExecutor(USERS) as pool:
        list(pool.map(browse, clients))
    for client in clients:
        client.close()


REQUEST_THREADS = 3


def test_requests_keep_one_connection_per_request_thread(tmp_path, fake_llm) -> None:
    extra = {"SPOOL_REQUEST_THREADS": str(REQUEST_THREADS)}
    with database_server(tmp_path, fake_llm, **extra) as (server, name):
        load_pages(server)
        # The request threads' connections, kept for reuse (+1: the run store's).
        assert 0 < connections_to(name) <= REQUEST_THREADS + 1


def test_max_age_zero_leaves_no_connection_open(tmp_path, fake_llm) -> None:
    with database_server(tmp_path, fake_llm, SPOOL_DB_CONN_MAX_AGE="0") as (server, name):
        load_pages(server)
        assert connections_to(name) == 0


def test_the_pool_reuses_a_bounded_set(tmp_path, fake_llm) -> None:
    with database_server(tmp_path, fake_llm, "?pool=true") as (server, name):
        load_pages(server)
        assert 0 < connections_to(name) <= POOL_SIZE
