"""The same product on PostgreSQL: DATABASE_URL switches the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import FAKE_MODEL, spool_env
from tests.support.client import SpoolClient, SSEEvent
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.services import POSTGRES, require_service

pytestmark = pytest.mark.services
ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory, fake_llm) -> Iterator[DaphneServer]:
    require_service("PostgreSQL", POSTGRES)
    import psycopg

    name = f"spool_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = spool_env(fake_llm, DATABASE_URL=f"postgresql://root@127.0.0.1:5432/{name}")
        with run_daphne(tmp_path_factory.mktemp("pg"), env) as server:
            yield server
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_exchange_completes_and_is_stored(pg_server) -> None:
    c = SpoolClient(pg_server.url).signup()
    _, mid = c.start_conversation("hello on postgres", model=FAKE_MODEL)
    events = c.stream_events(mid)
    assert events[-1].event == "done"
    row = pg_server.wait_status(mid, "complete", timeout=15)
    assert "fake model" in row["html"]
    assert row["output_tokens"] == 7


def test_stop_keeps_partial_on_postgres(pg_server) -> None:
    c = SpoolClient(pg_server.url).signup()
    _, mid = c.start_conversation("[long] stop me on postgres", model=FAKE_MODEL)
    for item in c.stream(mid):
        if isinstance(item, SSEEvent) and item.event == "block":
            break
    c.post(f"/m/{mid}/stop", headers={"HX-Request": "true"})
    row = pg_server.wait_status(mid, "stopped", timeout=15)
    assert row["content"].startswith("Paragraph 0")
    assert "Paragraph 39" not in row["content"]
