"""The same product on PostgreSQL: DATABASE_URL switches the database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import FAKE_MODEL, POSTGRES, require_service, spool_env
from tests.support.client import SpoolClient, SSEEvent
from tests.support.daphne import DaphneServer, run_daphne

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


def wait_status(server: DaphneServer, mid: str, status: str) -> dict:
    deadline = time.monotonic() + 15
    while (row := server.message(mid))["status"] != status:
        assert time.monotonic() < deadline, row["status"]
        time.sleep(0.05)
    return row


def test_exchange_completes_and_is_stored(pg_server) -> None:
    c = SpoolClient(pg_server.url).signup()
    _, mid = c.start_conversation("hello on postgres", model=FAKE_MODEL)
    events = c.stream_events(mid)
    assert events[-1].event == "done"
    row = wait_status(pg_server, mid, "complete")
    assert "fake model" in row["html"]
    assert row["output_tokens"] == 7


def test_stop_keeps_partial_on_postgres(pg_server) -> None:
    c = SpoolClient(pg_server.url).signup()
    _, mid = c.start_conversation("[long] stop me on postgres", model=FAKE_MODEL)
    for item in c.stream(mid):
        if isinstance(item, SSEEvent) and item.event == "block":
            break
    c.post(f"/m/{mid}/stop", headers={"HX-Request": "true"})
    row = wait_status(pg_server, mid, "stopped")
    assert row["content"].startswith("Paragraph 0")
    assert "Paragraph 39" not in row["content"]
