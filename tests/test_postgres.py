"""The same product on PostgreSQL: DATABASE_URL switches the database."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


def test_a_share_racing_another_answers_with_the_same_link(pg_server) -> None:
    """Share pressed twice at once (a double submit): both requests find no
    link and insert one; the later insert meets the earlier one's row (one
    link per conversation) and must answer with that link, not a 500.

    The race is made certain: this test's own transaction inserts the first
    link and holds it until the page's insert waits on it, then commits."""
    import psycopg

    c = SpoolClient(pg_server.url).signup()
    page, mid = c.start_conversation("share me twice", model=FAKE_MODEL)
    c.stream_events(mid)
    conversation_id = page.strip("/").split("/")[-1]
    database = pg_server.database_url.rsplit("/", 1)[-1]
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = %s AND wait_event_type = 'Lock' AND query LIKE 'INSERT%%chatapp_share%%'"
    )
    with psycopg.connect(pg_server.database_url) as first, ThreadPoolExecutor(1) as pool:
        first.execute(
            "INSERT INTO chatapp_share (conversation_id, token, title, messages, created_at,"
            " snapshot_at) VALUES (%s, 'the-first-link', 'Earlier', '[]', now(), now())",
            (conversation_id,),
        )
        second = pool.submit(c.post, f"{page}share")
        deadline = time.monotonic() + 15
        with psycopg.connect(pg_server.database_url, autocommit=True) as watcher:
            while watcher.execute(waiting, (database,)).fetchone() != (1,):
                assert not second.done(), second.result().status_code
                assert time.monotonic() < deadline, "the page's insert never waited"
                time.sleep(0.02)
        first.commit()
        r = second.result(timeout=15)
    assert r.status_code == 200, pg_server.log()[-2000:]
    assert r.url.query == b"share=created"
    (link,) = re.findall(r'id="share-url" type="text" readonly value="([^"]+)"', r.text)
    assert link.endswith("/s/the-first-link")
    (row,) = pg_server.query(
        "SELECT token, title, messages FROM chatapp_share WHERE conversation_id = ?",
        (conversation_id,),
    )
    # The one link, its snapshot retaken by the later press.
    assert row["token"] == "the-first-link"
    assert row["messages"][0] == {"role": "user", "text": "share me twice"}
